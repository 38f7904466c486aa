import { Module } from '@nestjs/common';
import { LifecycleService } from './lifecycle.service';

/**
 * The instance's shutting-down flag: bootstrap (main.ts, create-app.ts) sets and reads it, readiness
 * reports it. Its own module rather than a file in bootstrap/, so that health/ need not import bootstrap.
 */
@Module({
  providers: [LifecycleService],
  exports: [LifecycleService],
})
export class LifecycleModule {}
