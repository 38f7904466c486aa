import { Logger, type Provider } from '@nestjs/common';
import Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

export const REDIS = Symbol('REDIS');

/** One shared ioredis client, or null when REDIS_HOST is unset. Its state feeds the `redis_up` gauge. */
export const redisProvider: Provider = {
  provide: REDIS,
  inject: [AppConfig, MetricsService],
  useFactory: (config: AppConfig, metrics: MetricsService): Redis | null => {
    const target = config.redis;
    if (!target) return null;
    const logger = new Logger('Redis');
    metrics.trackRedis();
    const client = new Redis({
      host: target.host,
      port: target.port,
      lazyConnect: false,
      // Fail fast while Redis is down instead of queueing commands: callers decide how to degrade.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 500,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    let down = false;
    client.on('error', (err: Error) => {
      if (!down) logger.warn(`Redis unavailable: ${err.message}`);
      down = true;
      metrics.redisUp.set(0);
    });
    client.on('close', () => metrics.redisUp.set(0));
    client.on('ready', () => {
      if (down) logger.log('Redis available again');
      down = false;
      metrics.redisUp.set(1);
    });
    return client;
  },
};
