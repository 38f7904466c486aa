import { Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';

/** Outcomes of one delivery attempt, as counted. */
export type DeliveryOutcome = 'succeeded' | 'failed' | 'unreachable' | 'refused' | 'given_up';

/** The webhook metrics, on the instance's registry (MetricsService), served at /metrics with the others. */
@Injectable()
export class WebhookMetrics {
  readonly deliveries: Counter<'outcome'>;
  readonly lag: Gauge;

  constructor(metrics: MetricsService) {
    this.deliveries = new Counter({
      name: 'webhook_deliveries_total',
      help:
        'Webhook delivery attempts by outcome: succeeded (2xx), failed (another status), unreachable (no ' +
        'answer or time-out), refused (the URL now resolves to a refused address), given_up (a job out of retries)',
      labelNames: ['outcome'] as const,
      registers: [metrics.registry],
    });
    this.lag = new Gauge({
      name: 'webhook_lag_seconds',
      help: 'Age of the oldest due webhook delivery job (0 when none is due), as last seen by this instance',
      registers: [metrics.registry],
    });
  }
}
