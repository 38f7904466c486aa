import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisModule } from '../redis/redis.module';
import { PrimaryHold } from './primary-hold';
import { PrimaryPool } from './pools';
import { ReadRouter } from './replicas';

/**
 * Read replicas (POSTGRES_REPLICA_HOSTS): the ReadRouter for modules that serve history (the interceptor
 * that notes every write for read-your-writes is AppModule's, registered only when replicas are named).
 * Also the hold that lets writes wait out a switchover (PrimaryHold), for the engine and the router.
 */
@Module({
  imports: [MetricsModule, RedisModule],
  providers: [ReadRouter, PrimaryHold, PrimaryPool],
  exports: [ReadRouter, PrimaryHold],
})
export class ReplicasModule {}
