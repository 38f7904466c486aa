import { Logger } from '@nestjs/common';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { type ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import type Redis from 'ioredis';

type Record = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** After a Redis failure, counters stay in memory this long before Redis is tried again. */
const REDIS_RETRY_AFTER_MS = 2000;

/**
 * Rate-limit counters in Redis, shared by every instance; in memory when Redis is not configured, and
 * also while it is unreachable.
 *
 * It fails open on purpose: the limiter protects logins and the service from abuse, but a Redis outage
 * must not turn into a refusal of every login and every transfer. While Redis is down each instance
 * counts on its own (limits become per instance, so N instances allow N times the limit), a warning is
 * logged once, and Redis is tried again every REDIS_RETRY_AFTER_MS. The shared client fails commands at
 * once while disconnected and times them out after 500 ms (src/redis/redis.provider.ts), so a dead
 * Redis adds no wait to a request.
 */
export class FailOpenThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger('RateLimit');
  private readonly memory = new ThrottlerStorageService();
  private readonly shared?: ThrottlerStorageRedisService;
  private redisDownUntil = 0;
  private degraded = false;

  constructor(private readonly redis: Redis | null) {
    if (redis) this.shared = new ThrottlerStorageRedisService(redis);
  }

  get usingRedis(): boolean {
    return Boolean(this.shared) && !this.degraded;
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    name: string,
  ): Promise<Record> {
    if (this.shared && this.redis && Date.now() >= this.redisDownUntil) {
      if (this.redis.status === 'ready') {
        try {
          const record = await this.shared.increment(key, ttl, limit, blockDuration, name);
          if (this.degraded) this.logger.log('Redis is back: rate limits are shared again');
          this.degraded = false;
          return record;
        } catch (err) {
          this.markDown(err instanceof Error ? err.message : String(err));
        }
      } else {
        this.markDown(`connection ${this.redis.status}`);
      }
    }
    return this.memory.increment(key, ttl, limit, blockDuration, name);
  }

  private markDown(reason: string): void {
    this.redisDownUntil = Date.now() + REDIS_RETRY_AFTER_MS;
    if (!this.degraded) {
      this.logger.warn(
        `Redis unavailable for rate limiting (${reason}): counting in memory, per instance, until it returns`,
      );
    }
    this.degraded = true;
  }

  onApplicationShutdown(): void {
    this.memory.onApplicationShutdown();
  }
}

/** Waits (bounded) for the shared client to connect, so the first requests after start-up count in Redis. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
}
