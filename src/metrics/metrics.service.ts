import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one app instance. A registry per instance (not prom-client's global one) so
 * that several instances in one process, as in the tests, do not collide.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly transferAttempts = new Counter({
    name: 'transfer_attempts_total',
    help: 'Money movement attempts by kind (optimistic or locked) and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly transferConflicts = new Counter({
    name: 'transfer_conflicts_total',
    help: 'Optimistic-lock conflicts, deadlocks and serialization failures met by the transfer engine',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly transferRetries = new Counter({
    name: 'transfer_retries_total',
    help: 'Retries made by the transfer engine after a conflict',
    registers: [this.registry],
  });

  readonly movements = new Counter({
    name: 'money_movements_total',
    help: 'Money movements by type and final status',
    labelNames: ['type', 'status'] as const,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'transfer_batch_size',
    help: 'Movements written by one statement of the transfer engine (the write combiner gathers them)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });

  readonly holdExpiryRuns = new Counter({
    name: 'hold_expiry_runs_total',
    help: 'Runs of the hold expiry job',
    registers: [this.registry],
  });

  readonly holdsExpired = new Counter({
    name: 'holds_expired_total',
    help: 'Holds voided because they expired',
    registers: [this.registry],
  });

  /**
   * 1 while the optional Redis is connected and answers, 0 while it is configured but down. Readiness
   * does not fail on Redis (rate limiting fails open), so this is where operators see an outage.
   * Registered only when REDIS_HOST is set: an unlabelled gauge would otherwise read 0 ("down") on an
   * instance that has no Redis at all.
   */
  readonly redisUp = new Gauge({
    name: 'redis_up',
    help: 'Whether the optional Redis answers (1) or not (0); absent when REDIS_HOST is unset',
    registers: [],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  trackRedis(): void {
    if (!this.registry.getSingleMetric('redis_up')) this.registry.registerMetric(this.redisUp);
  }
}
