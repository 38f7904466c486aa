import { Logger } from '@nestjs/common';
import { Pool, type PoolConfig } from 'pg';
import { Gauge, type Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { buildDataSourceOptions } from './data-source-options';
import { type HostPort, hostName, parseHostList } from './primary-host';
import { databaseSettings } from './settings';

/** What one replica looked like at its last check (readiness shows it, routing decides by it). */
export interface ReplicaStatus {
  name: string;
  /** streaming: serves reads; lagging: further behind than DB_REPLICA_MAX_LAG_MS; down: did not answer;
   * promoted: not in recovery any more (a failover made it the primary: reads go to the primary pool). */
  state: 'streaming' | 'lagging' | 'down' | 'promoted';
  /** How long ago the primary had written WAL this replica has not replayed; null when unknown. */
  lagMs: number | null;
  /** Bytes of WAL between the primary's position and this replica's replay position; null when unknown. */
  lagBytes: number | null;
  error?: string;
}

export interface Replica {
  host: HostPort;
  pool: Pool;
  replayed: bigint | null;
  inRecovery: boolean;
  checkedAt: number;
  error?: string;
}

/** pg_lsn ('16/B374D848') as a number of bytes. */
export function lsnOf(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** Samples of the primary's WAL position kept for the lag estimate. */
const SAMPLE_WINDOW_MS = 120_000;

/**
 * The replicas of POSTGRES_REPLICA_HOSTS, their pools, and how each is doing: up or down, still in
 * recovery or promoted, and how far behind the primary. The read router (replicas.ts) asks it which
 * replicas may serve; it knows nothing of callers or their writes.
 *
 * Lag is measured in time without trusting clocks or pg_last_xact_replay_timestamp() (which grows while
 * the primary is idle): every check samples the primary's WAL position, and a replica's lag is the age of
 * the oldest sample it has not replayed yet.
 */
export class ReplicaHealth {
  readonly replicas: Replica[];
  private readonly logger = new Logger('Replicas');
  private readonly maxLagMs: number;
  private readonly intervalMs: number;
  private readonly samples: Array<{ at: number; lsn: bigint }> = [];
  private readonly lagSeconds = new Gauge({
    name: 'db_replica_lag_seconds',
    help: 'How far a read replica is behind the primary, in seconds (age of the oldest WAL it has not replayed)',
    labelNames: ['replica'] as const,
    registers: [],
    // Computed when scraped, from the last check, as readiness computes it.
    collect: () => this.refreshGauges(),
  });
  private readonly lagBytes = new Gauge({
    name: 'db_replica_lag_bytes',
    help: "Bytes of WAL between the primary's position and a read replica's replay position",
    labelNames: ['replica'] as const,
    registers: [],
    collect: () => this.refreshGauges(),
  });
  private readonly replicaUp = new Gauge({
    name: 'db_replica_up',
    help: 'Whether a read replica serves reads (1: streaming within DB_REPLICA_MAX_LAG_MS) or not (0)',
    labelNames: ['replica'] as const,
    registers: [],
    collect: () => this.refreshGauges(),
  });

  constructor(
    config: AppConfig,
    private readonly primary: () => Pool,
  ) {
    const e = config.env;
    this.maxLagMs = e.DB_REPLICA_MAX_LAG_MS;
    this.intervalMs = e.DB_REPLICA_CHECK_INTERVAL_MS;
    const settings = databaseSettings(config);
    // The primary's own connection settings (timeouts; none behind a pooler), without the role switch (a
    // replica is read-only whoever reads) and without the primary locator's Client.
    const { Client: _primaryClient, ...extra } = (buildDataSourceOptions({ ...settings, appRole: undefined })
      .extra ?? {}) as PoolConfig & { Client?: unknown };
    this.replicas = parseHostList(e.POSTGRES_REPLICA_HOSTS ?? '', e.POSTGRES_PORT).map((host) => {
      const pool = new Pool({
        ...extra,
        host: host.host,
        port: host.port,
        user: settings.user,
        password: settings.password,
        database: settings.database,
        application_name: 'hfts-replica-read',
      });
      pool.on('error', () => undefined); // an idle connection lost: the next check says so
      return { host, pool, replayed: null, inRecovery: false, checkedAt: 0 };
    });
  }

  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.lagSeconds);
    registry.registerMetric(this.lagBytes);
    registry.registerMetric(this.replicaUp);
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.pool.end().catch(() => undefined)));
  }

  /** Every replica as of its last check (readiness). */
  status(): ReplicaStatus[] {
    return this.replicas.map((r) => {
      const lagMs = this.lagMsOf(r);
      const head = this.samples[this.samples.length - 1];
      const lagBytes =
        r.replayed !== null && head ? Number(head.lsn > r.replayed ? head.lsn - r.replayed : 0n) : null;
      return {
        name: hostName(r.host),
        state: this.stateOf(r),
        lagMs,
        lagBytes,
        ...(r.error ? { error: r.error } : {}),
      };
    });
  }

  /** The replicas that may serve reads now: streaming, within DB_REPLICA_MAX_LAG_MS. */
  serving(): Replica[] {
    return this.replicas.filter((r) => this.stateOf(r) === 'streaming');
  }

  /** The lowest replay position of the replicas that gave one (null: none did). */
  replayedByAll(): bigint | null {
    return this.replicas.reduce<bigint | null>(
      (min, r) => (r.replayed === null ? min : min === null || r.replayed < min ? r.replayed : min),
      null,
    );
  }

  /** Reads one replica's replay position again (one round trip); throws what the query threw. */
  async replayPosition(r: Replica): Promise<bigint> {
    const { rows } = await r.pool.query<{ lsn: string | null }>(
      'SELECT pg_last_wal_replay_lsn()::text AS lsn',
    );
    if (rows[0].lsn) {
      const lsn = lsnOf(rows[0].lsn);
      if (r.replayed === null || lsn > r.replayed) r.replayed = lsn;
    }
    return r.replayed ?? -1n;
  }

  /** One round of checks: the primary's WAL position, then every replica's replay position. */
  async check(): Promise<void> {
    try {
      const { rows } = await this.primary().query<{ lsn: string }>(
        'SELECT pg_current_wal_lsn()::text AS lsn',
      );
      const now = Date.now();
      this.samples.push({ at: now, lsn: lsnOf(rows[0].lsn) });
      while (this.samples.length > 1 && now - this.samples[0].at > SAMPLE_WINDOW_MS) this.samples.shift();
    } catch {
      // The primary is away (a failover in progress): the replicas' lag cannot grow a new sample.
    }
    await Promise.all(
      this.replicas.map(async (r) => {
        const before = this.stateOf(r);
        try {
          const { rows } = await r.pool.query<{ recovering: boolean; lsn: string | null }>(
            'SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS lsn',
          );
          r.inRecovery = rows[0].recovering;
          r.replayed = rows[0].lsn ? lsnOf(rows[0].lsn) : null;
          r.error = undefined;
        } catch (err) {
          r.error = err instanceof Error ? err.message : String(err);
        }
        r.checkedAt = Date.now();
        const after = this.stateOf(r);
        const name = hostName(r.host);
        if (after !== before) this.logger.warn(`replica ${name}: ${after}${r.error ? ` (${r.error})` : ''}`);
      }),
    );
  }

  private stateOf(r: Replica): ReplicaStatus['state'] {
    if (r.error || (r.replayed === null && r.inRecovery)) return 'down';
    if (!r.inRecovery) return r.checkedAt ? 'promoted' : 'down';
    // A check that has not come back for a while counts as down (a hung server, a cut network).
    if (Date.now() - r.checkedAt > Math.max(3 * this.intervalMs, this.maxLagMs)) return 'down';
    const lagMs = this.lagMsOf(r);
    return lagMs === null || lagMs > this.maxLagMs ? 'lagging' : 'streaming';
  }

  private lagMsOf(r: Replica): number | null {
    if (r.replayed === null || this.samples.length === 0) return null;
    const replayed = r.replayed;
    const first = this.samples.find((s) => s.lsn > replayed);
    if (!first) return 0;
    return Date.now() - first.at;
  }

  private refreshGauges(): void {
    for (const r of this.status()) {
      this.replicaUp.set({ replica: r.name }, r.state === 'streaming' ? 1 : 0);
      if (r.lagMs !== null) this.lagSeconds.set({ replica: r.name }, r.lagMs / 1000);
      if (r.lagBytes !== null) this.lagBytes.set({ replica: r.name }, r.lagBytes);
    }
  }
}
