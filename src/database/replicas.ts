import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { Counter } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { REDIS } from '../redis/redis.provider';
import { PrimaryPool } from './pools';
import { SERIALIZATION_FAILURE, mapDatabaseError, sqlState } from './pg-errors';
import { PrimaryHold } from './primary-hold';
import { hostName } from './primary-host';
import { type Replica, ReplicaHealth, type ReplicaStatus } from './replica-health';
import { WritePositions } from './write-positions';

/** Where a read ran: `primary` or a replica's `host:port`. */
export type ReadTargetName = string;

/**
 * Read routing for history pages, point-in-time balances, CSV account statements and events
 * (POSTGRES_REPLICA_HOSTS). Reads go to a streaming replica unless:
 *  - the caller moved money (or wrote anything) more recently than the replica has replayed:
 *    read-your-writes. After each write, `noteWrite(userId)` remembers the primary's
 *    pg_current_wal_lsn() for the caller, in memory and in Redis (so another instance behind the load
 *    balancer knows it too); a read for that caller goes to a replica whose pg_last_wal_replay_lsn() has
 *    passed it (re-read once, one round trip, when the last check had not), else to the primary;
 *  - the replica is down, promoted, or further behind than DB_REPLICA_MAX_LAG_MS: then the primary.
 * Without replicas every read runs on the primary's pool and `noteWrite` costs nothing.
 *
 * The replicas' health and lag are replica-health.ts's; the callers' write positions write-positions.ts's.
 */
@Injectable()
export class ReadRouter implements OnModuleInit, OnApplicationShutdown {
  private readonly health: ReplicaHealth;
  private readonly positions: WritePositions;
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;
  private next = 0;
  private readonly reads = new Counter({
    name: 'db_reads_total',
    help: 'Routed reads by where they ran (replica or primary) and why',
    labelNames: ['target', 'reason'] as const,
    registers: [],
  });

  constructor(
    config: AppConfig,
    private readonly primaryPool: PrimaryPool,
    private readonly metrics: MetricsService,
    @Inject(REDIS) redis: Redis | null,
    hold: PrimaryHold,
  ) {
    this.intervalMs = config.env.DB_REPLICA_CHECK_INTERVAL_MS;
    const primary = (): Pool => this.primaryPool.pool;
    this.health = new ReplicaHealth(config, primary);
    // Past twice the largest lag a serving replica may have, every replica allowed to serve has passed it.
    const rememberMs = Math.max(60_000, 2 * config.env.DB_REPLICA_MAX_LAG_MS);
    this.positions = new WritePositions(primary, redis, hold, rememberMs);
  }

  /** Whether POSTGRES_REPLICA_HOSTS names any replica. */
  get enabled(): boolean {
    return this.health.replicas.length > 0;
  }

  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    this.health.registerMetrics(this.metrics.registry);
    this.metrics.registry.registerMetric(this.reads);
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
    await this.health.close();
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
    return (await this.primaryPool.pool.query<T>(text, params)).rows;
  }

  /**
   * A connection of its own for a read that streams (a cursor), on a replica or the primary as `query`
   * decides; the caller releases it. The choice holds for the whole stream. `primary`: the pool to take it
   * from when it runs on the primary (CSV exports have their own, so that they never empty the service's).
   */
  async connect(
    readerId: string | undefined,
    primary: Pool = this.primaryPool.pool,
  ): Promise<{ client: PoolClient; target: ReadTargetName }> {
    const replica = await this.pick(readerId);
    if (replica) {
      try {
        return { client: await replica.pool.connect(), target: hostName(replica.host) };
      } catch (err) {
        if (!this.replicaFailure(replica, err)) throw err;
      }
    }
    return { client: await primary.connect(), target: 'primary' };
  }

  /** Where a read for `readerId` would run now (for tests and diagnostics). */
  async targetFor(readerId: string | undefined): Promise<ReadTargetName> {
    const replica = await this.pick(readerId);
    return replica ? hostName(replica.host) : 'primary';
  }

  /**
   * After a write by `userId` has committed: remember the primary's WAL position, so that this user's next
   * reads see it (write-positions.ts).
   */
  async noteWrite(userId: string): Promise<void> {
    if (!this.enabled) return;
    await this.positions.note(userId);
  }

  /** Every replica as of its last check (readiness). */
  status(): ReplicaStatus[] {
    return this.health.status();
  }

  /** A check of every replica, then the write positions they have all replayed are forgotten. */
  private async check(): Promise<void> {
    await this.health.check();
    this.positions.forget(this.health.replayedByAll());
  }

  /** A replica that may serve `readerId` now, round robin among those that may; undefined: the primary. */
  private async pick(readerId: string | undefined): Promise<Replica | undefined> {
    if (!this.enabled) return undefined;
    const serving = this.health.serving();
    if (serving.length === 0) {
      this.reads.inc({ target: 'primary', reason: 'no_replica' });
      return undefined;
    }
    const needed = readerId ? await this.positions.lastWriteOf(readerId) : undefined;
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
      return await this.health.replayPosition(r);
    } catch (err) {
      this.replicaFailure(r, err);
      return r.replayed ?? -1n;
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
}
