import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type Redis from 'ioredis';
import { HealthController } from './health.controller';
import { LifecycleService } from './lifecycle.service';
import { MetricsService } from './metrics.service';
import { REDIS, redisProvider } from './redis.provider';

/** Health, metrics and the shared Redis client (used by readiness and by rate limiting). */
@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', gracefulShutdownTimeoutMs: 0 })],
  controllers: [HealthController],
  providers: [MetricsService, LifecycleService, redisProvider],
  exports: [MetricsService, LifecycleService, REDIS],
})
export class HealthModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.redis || this.redis.status === 'end') return;
    // quit() waits for a reply that never comes while Redis is down: just drop the connection then.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis?.disconnect());
    else this.redis.disconnect();
  }
}
