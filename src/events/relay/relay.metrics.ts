import { Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { MetricsService } from '../../metrics/metrics.service';

/**
 * The NATS relay's metrics, on the instance's registry (MetricsService). Registered only when the relay
 * runs (NATS_URL set), like redis_up: an instance without NATS shows none of them rather than zeros.
 */
@Injectable()
export class RelayMetrics {
  readonly relayed: Counter;
  readonly duplicates: Counter;
  readonly errors: Counter<'stage'>;
  readonly connected: Gauge;
  readonly lag: Gauge<'state'>;
  private readLag?: () => Promise<{ unrelayed: number; unsequenced: number } | undefined>;

  constructor(private readonly metrics: MetricsService) {
    this.relayed = new Counter({
      name: 'events_relayed_total',
      help: 'Events published to NATS JetStream and acknowledged (PubAck)',
      registers: [],
    });
    this.duplicates = new Counter({
      name: 'events_relay_duplicates_total',
      help: 'Re-sent events that JetStream dropped as duplicates (same Nats-Msg-Id within the window)',
      registers: [],
    });
    this.errors = new Counter({
      name: 'events_relay_errors_total',
      help: 'Failed relay passes by stage: connect (NATS unreachable or stream not ensured), publish, database',
      labelNames: ['stage'] as const,
      registers: [],
    });
    this.connected = new Gauge({
      name: 'events_relay_nats_connected',
      help: 'Whether the relay is connected to NATS (1) or not (0)',
      registers: [],
    });
    this.lag = new Gauge({
      name: 'events_outbox_lag_seconds',
      help:
        'Age of the oldest event not yet relayed to NATS: state="unrelayed" among numbered events, ' +
        'state="unsequenced" among committed events the sequencer has not numbered yet (0 when none)',
      labelNames: ['state'] as const,
      registers: [],
      // Read from the database on each scrape of /metrics (prom-client awaits it).
      collect: async () => {
        const now = await this.readLag?.();
        if (!now) return; // the database did not answer: the last reading stays
        this.lag.set({ state: 'unrelayed' }, now.unrelayed);
        this.lag.set({ state: 'unsequenced' }, now.unsequenced);
      },
    });
  }

  /** Registers the metrics; `readLag` gives the outbox lag on each scrape. */
  register(readLag: () => Promise<{ unrelayed: number; unsequenced: number } | undefined>): void {
    this.readLag = readLag;
    const { registry } = this.metrics;
    registry.registerMetric(this.relayed);
    registry.registerMetric(this.duplicates);
    registry.registerMetric(this.errors);
    registry.registerMetric(this.connected);
    registry.registerMetric(this.lag);
  }
}
