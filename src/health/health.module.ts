import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ReplicasModule } from '../database/replicas.module';
import { LifecycleModule } from '../lifecycle/lifecycle.module';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisModule } from '../redis/redis.module';
import { HealthController } from './health.controller';

/** Reports only: liveness, readiness (database, shutting down, optional Redis) and the metrics endpoint. */
@Module({
  imports: [
    TerminusModule.forRoot({ errorLogStyle: 'json', gracefulShutdownTimeoutMs: 0 }),
    LifecycleModule,
    MetricsModule,
    RedisModule,
    ReplicasModule,
  ],
  controllers: [HealthController],
})
export class HealthModule {}
