import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type Redis from 'ioredis';
import { Pool, type PoolClient, type PoolConfig, type QueryResultRow } from 'pg';
import { Counter, Gauge } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { REDIS } from '../redis/redis.provider';
import { buildDataSourceOptions } from './data-source-options';
import { SERIALIZATION_FAILURE, mapDatabaseError, sqlState } from './pg-errors';
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

/** Where a read ran: `primary` or a replica's `host:port`. */
export type ReadTargetName = string;

interface Replica {
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
const REDIS_KEY = 'hfts:rlsn:';

/**
 * Read routing for history pages, point-in-time balances, CSV statements and events
 * (POSTGRES_REPLICA_HOSTS). Reads go to a streaming replica unless:
 *  - the caller moved money (or wrote anything) more recently than the replica has replayed:
 *    read-your-writes. After each write, `noteWrite(userId)` remembers the primary's
 *    pg_current_wal_lsn() for the caller, in memory and in Redis (so another instance behind the load
 *    balancer knows it too); a read for that caller goes to a replica whose pg_last_wal_replay_lsn() has
 *    passed it (re-read once, one round trip, when the last check had not), else to the primary;
 *  - the replica is down, promoted, or further behind than DB_REPLICA_MAX_LAG_MS: then the primary.
 * Without replicas every read runs on the primary's pool and `noteWrite` costs nothing.
 *
 * Lag is measured in time without trusting clocks or pg_last_xact_replay_timestamp() (which grows while
 * the primary is idle): every check samples the primary's WAL position, and a replica's lag is the age of
 * the oldest sample it has not replayed yet.
 */
@Injectable()
export class ReadRouter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Replicas');
  private readonly replicas: Replica[];
  private readonly maxLagMs: number;
  private readonly intervalMs: number;
  private readonly samples: Array<{ at: number; lsn: bigint }> = [];
  /** userId -> the primary's WAL position right after that user's last write, and when it was noted. */
  private readonly lastWrites = new Map<string, { lsn: bigint; at: number }>();
  private pendingLsn?: Promise<bigint>;
  private timer?: NodeJS.Timeout;
  private next = 0;
  private redisWarned = false;
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
  private readonly reads = new Counter({
    name: 'db_reads_total',
    help: 'Routed reads by where they ran (replica or primary) and why',
    labelNames: ['target', 'reason'] as const,
    registers: [],
  });

  constructor(
    config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
    @Inject(REDIS) private readonly redis: Redis | null,
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

  /** Whether POSTGRES_REPLICA_HOSTS names any replica. */
  get enabled(): boolean {
    return this.replicas.length > 0;
  }

  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    const registry = this.metrics.registry;
    registry.registerMetric(this.lagSeconds);
    registry.registerMetric(this.lagBytes);
    registry.registerMetric(this.replicaUp);
    registry.registerMetric(this.reads);
    await this.check();
    const tick = (): void => {
      this.timer = setTimeout(() => void this.check().finally(tick), this.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all(this.replicas.map((r) => r.pool.end().catch(() => undefined)));
  }

  /**
   * Runs one read-only query where it may run for `readerId` (the authenticated caller; undefined: no
   * read-your-writes to keep). A replica that fails with a connection error or a recovery conflict
   * (40001 on a hot standby) is given up for this read, which then runs on the primary.
   */
  async query<T extends QueryResultRow>(
    readerId: string | undefined,
    text: string,
    params: unknown[] = [],
  ): Promise<T[]> {
    const replica = await this.pick(readerId);
    if (replica) {
      try {
        return (await replica.pool.query<T>(text, params)).rows;
      } catch (err) {
        if (!this.replicaFailure(replica, err)) throw err;
      }
    }
    return (await this.primary().query<T>(text, params)).rows;
  }

  /**
   * A connection of its own for a read that streams (a cursor), on a replica or the primary as `query`
   * decides; the caller releases it. The choice holds for the whole stream.
   */
  async connect(readerId: string | undefined): Promise<{ client: PoolClient; target: ReadTargetName }> {
    const replica = await this.pick(readerId);
    if (replica) {
      try {
        return { client: await replica.pool.connect(), target: hostName(replica.host) };
      } catch (err) {
        if (!this.replicaFailure(replica, err)) throw err;
      }
    }
    return { client: await this.primary().connect(), target: 'primary' };
  }

  /** Where a read for `readerId` would run now (for tests and diagnostics). */
  async targetFor(readerId: string | undefined): Promise<ReadTargetName> {
    const replica = await this.pick(readerId);
    return replica ? hostName(replica.host) : 'primary';
  }

  /**
   * After a write by `userId` has committed: remember the primary's WAL position, so that this user's next
   * reads see it. Concurrent callers share one query, started after all of them committed.
   */
  async noteWrite(userId: string): Promise<void> {
    if (!this.enabled) return;
    const lsn = await this.currentLsn();
    const known = this.lastWrites.get(userId);
    if (!known || known.lsn < lsn) this.lastWrites.set(userId, { lsn, at: Date.now() });
    if (!this.redis) return;
    try {
      // Keeps the larger of two positions written by two instances (Lua numbers are doubles: exact up to
      // 2^53 bytes of WAL, 9 PB).
      await this.redis.eval(
        `local c = redis.call('GET', KEYS[1])
         if (not c) or tonumber(c) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
         return 1`,
        1,
        `${REDIS_KEY}${userId}`,
        lsn.toString(),
        String(this.rememberMs),
      );
    } catch (err) {
      this.warnRedis(err);
    }
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
        state: this.stateOf(r, lagMs),
        lagMs,
        lagBytes,
        ...(r.error ? { error: r.error } : {}),
      };
    });
  }

  /** How long a user's last write position is kept: past it, any replica allowed to serve has passed it. */
  private get rememberMs(): number {
    return Math.max(60_000, 2 * this.maxLagMs);
  }

  private primary(): Pool {
    return (this.dataSource.driver as PostgresDriver).master as Pool;
  }

  private stateOf(r: Replica, lagMs: number | null): ReplicaStatus['state'] {
    if (r.error || (r.replayed === null && r.inRecovery)) return 'down';
    if (!r.inRecovery) return r.checkedAt ? 'promoted' : 'down';
    // A check that has not come back for a while counts as down (a hung server, a cut network).
    if (Date.now() - r.checkedAt > Math.max(3 * this.intervalMs, this.maxLagMs)) return 'down';
    return lagMs === null || lagMs > this.maxLagMs ? 'lagging' : 'streaming';
  }

  private lagMsOf(r: Replica): number | null {
    if (r.replayed === null || this.samples.length === 0) return null;
    const replayed = r.replayed;
    const first = this.samples.find((s) => s.lsn > replayed);
    if (!first) return 0;
    return Date.now() - first.at;
  }

  /** A replica that may serve `readerId` now, round robin among those that may; undefined: the primary. */
  private async pick(readerId: string | undefined): Promise<Replica | undefined> {
    if (!this.enabled) return undefined;
    const serving = this.replicas.filter((r) => this.stateOf(r, this.lagMsOf(r)) === 'streaming');
    if (serving.length === 0) {
      this.reads.inc({ target: 'primary', reason: 'no_replica' });
      return undefined;
    }
    const needed = readerId ? await this.lastWriteOf(readerId) : undefined;
    const start = this.next++ % serving.length;
    const ordered = [...serving.slice(start), ...serving.slice(0, start)];
    const ready = needed === undefined ? ordered[0] : ordered.find((r) => (r.replayed ?? -1n) >= needed);
    if (ready) {
      this.reads.inc({ target: 'replica', reason: needed === undefined ? 'replica' : 'caught_up' });
      return ready;
    }
    // The last check predates the caller's write: ask one replica again (one round trip, bounded by
    // the check interval's worth of replay), else read from the primary.
    const candidate = ordered[0];
    if (needed !== undefined && (await this.refresh(candidate)) >= needed) {
      this.reads.inc({ target: 'replica', reason: 'caught_up' });
      return candidate;
    }
    this.reads.inc({ target: 'primary', reason: 'behind_caller' });
    return undefined;
  }

  private async refresh(r: Replica): Promise<bigint> {
    try {
      const { rows } = await r.pool.query<{ lsn: string | null }>(
        'SELECT pg_last_wal_replay_lsn()::text AS lsn',
      );
      if (rows[0].lsn) {
        const lsn = lsnOf(rows[0].lsn);
        if (r.replayed === null || lsn > r.replayed) r.replayed = lsn;
      }
    } catch (err) {
      this.replicaFailure(r, err);
    }
    return r.replayed ?? -1n;
  }

  private async lastWriteOf(userId: string): Promise<bigint | undefined> {
    const local = this.lastWrites.get(userId)?.lsn;
    if (!this.redis) return local;
    try {
      const shared = await this.redis.get(`${REDIS_KEY}${userId}`);
      const remote = shared ? BigInt(shared) : undefined;
      if (remote === undefined) return local;
      return local === undefined || remote > local ? remote : local;
    } catch (err) {
      this.warnRedis(err);
      return local;
    }
  }

  /** A read failed on a replica: true when the primary should take it (the replica is marked down). */
  private replicaFailure(r: Replica, err: unknown): boolean {
    const recoveryConflict = sqlState(err) === SERIALIZATION_FAILURE;
    const unavailable = mapDatabaseError(err)?.code === 'SERVICE_UNAVAILABLE';
    if (!recoveryConflict && !unavailable) return false;
    if (unavailable) r.error = err instanceof Error ? err.message : String(err);
    this.reads.inc({ target: 'primary', reason: recoveryConflict ? 'recovery_conflict' : 'replica_failed' });
    return true;
  }

  /** One query for the primary's WAL position, shared by every caller that asked before it started. */
  private currentLsn(): Promise<bigint> {
    this.pendingLsn ??= new Promise<void>((started) => setImmediate(started)).then(async () => {
      this.pendingLsn = undefined;
      const rows = await this.primary().query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      return lsnOf(rows.rows[0].lsn);
    });
    return this.pendingLsn;
  }

  /** One round of checks: the primary's WAL position, then every replica's replay position. */
  private async check(): Promise<void> {
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
        const before = this.stateOf(r, this.lagMsOf(r));
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
        const after = this.stateOf(r, this.lagMsOf(r));
        const name = hostName(r.host);
        if (after !== before) this.logger.warn(`replica ${name}: ${after}${r.error ? ` (${r.error})` : ''}`);
      }),
    );
    const floor = this.replicas.reduce<bigint | null>(
      (min, r) => (r.replayed === null ? min : min === null || r.replayed < min ? r.replayed : min),
      null,
    );
    const now = Date.now();
    for (const [user, w] of this.lastWrites) {
      if ((floor !== null && w.lsn <= floor) || now - w.at > this.rememberMs) this.lastWrites.delete(user);
    }
  }

  private refreshGauges(): void {
    for (const r of this.status()) {
      this.replicaUp.set({ replica: r.name }, r.state === 'streaming' ? 1 : 0);
      if (r.lagMs !== null) this.lagSeconds.set({ replica: r.name }, r.lagMs / 1000);
      if (r.lagBytes !== null) this.lagBytes.set({ replica: r.name }, r.lagBytes);
    }
  }

  private warnRedis(err: unknown): void {
    if (this.redisWarned) return;
    this.redisWarned = true;
    this.logger.warn(
      `Redis unavailable for read-your-writes positions (this instance still keeps its own): ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
  }
}
