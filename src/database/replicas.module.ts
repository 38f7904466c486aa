import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisModule } from '../redis/redis.module';
import { ReadRouter } from './replicas';
import { WriteMarkerInterceptor } from './write-marker.interceptor';

/**
 * Read replicas (POSTGRES_REPLICA_HOSTS): the ReadRouter for modules that serve history, and the
 * interceptor that notes every write for read-your-writes. The interceptor is registered here, as an
 * APP_INTERCEPTOR, so that it exists exactly when the router does and runs in tests as in production.
 */
@Module({
  imports: [MetricsModule, RedisModule],
  providers: [ReadRouter, { provide: APP_INTERCEPTOR, useClass: WriteMarkerInterceptor }],
  exports: [ReadRouter],
})
export class ReplicasModule {}
