import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { MetricsModule } from '../metrics/metrics.module';
import { REDIS, redisProvider } from './redis.provider';

/** The shared, optional Redis client (rate limiting, readiness), closed when the application stops. */
@Module({
  imports: [MetricsModule],
  providers: [redisProvider],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.redis || this.redis.status === 'end') return;
    // quit() waits for a reply that never comes while Redis is down: just drop the connection then.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis?.disconnect());
    else this.redis.disconnect();
  }
}
