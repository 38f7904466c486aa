import { Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** The instance's Prometheus registry, for every module that counts something; health/ serves it. */
@Module({
  providers: [MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
