import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import request from 'supertest';
import { MetricsService } from '../../src/metrics/metrics.service';
import { startTestApp, type TestApp } from './app';
import type { TestUser, TestWallet } from './factories';

/**
 * Several app instances on ONE database, as in production behind a load balancer. The first instance
 * creates (and on close drops) the database; the others join it and leave it alone when they close.
 */
export interface Cluster {
  instances: TestApp[];
  /** The first instance: its `sql` client serves the assertions that read the tables. */
  primary: TestApp;
  /** The instance that serves request number `i`: they take turns. */
  pick(i: number): TestApp;
  close(): Promise<void>;
}

export async function startCluster(size: number, env: Record<string, string> = {}): Promise<Cluster> {
  const primary = await startTestApp(env);
  const instances = [primary];
  try {
    for (let i = 1; i < size; i++) instances.push(await startTestApp(env, primary.db));
  } catch (err) {
    for (const t of instances.reverse()) await t.close();
    throw err;
  }
  return {
    instances,
    primary,
    pick: (i) => instances[i % instances.length],
    // The joiners first: the primary's close drops the database under them.
    close: async () => {
      for (const t of [...instances].reverse()) await t.close();
    },
  };
}

/** A counter's value summed over instances, over the series whose labels include `labels`. */
export async function counterTotal(
  instances: TestApp[],
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  let total = 0;
  for (const t of instances) {
    const metric = t.app.get(MetricsService).registry.getSingleMetric(name) as Counter | undefined;
    if (!metric) throw new Error(`no metric ${name}`);
    const { values } = await metric.get();
    for (const v of values) {
      const l = v.labels as Record<string, string | number | undefined>;
      if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) total += v.value;
    }
  }
  return total;
}

/** Deadlocks PostgreSQL has detected in the test database so far (pg_stat_database, read fresh). */
export async function databaseDeadlocks(t: TestApp): Promise<number> {
  await t.sql.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await t.sql.query<{ n: string }>(
    `SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()`,
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * The database's deadlock count once it has settled past `before`: statistics reach pg_stat_database
 * a little after the backend that met the deadlock goes idle, so this waits up to `ms` for a growth to
 * show before answering (a count that never grows is answered after the wait).
 */
export async function databaseDeadlocksAfter(t: TestApp, before: number, ms = 3000): Promise<number> {
  const until = Date.now() + ms;
  for (;;) {
    const now = await databaseDeadlocks(t);
    if (now > before || Date.now() >= until) return now;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls `probe` until it returns a value accepted by `done` (or throws after `ms`, with the last value). */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  ms = 10000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() >= until)
      throw new Error(`condition not met within ${ms} ms; last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The ways the contended suites run, so that the database's own guards decide every race rather than
 * the in-process write combiner (TRANSFER_QUEUE):
 * - queue off: one instance, no queue, optimistic only: every collision is a version conflict, retried;
 * - locked path: one instance, no queue, every attempt locks its wallets first (SELECT ... FOR NO KEY UPDATE);
 * - two instances: default settings on each (queue on), one database, requests taking turns.
 * `provePath` checks from the metrics, after a suite, that the path the mode names really ran.
 */
export interface ContendedMode {
  name: string;
  instances: number;
  env: Record<string, string>;
  /** Movements each way in the opposite-transfers race (the optimistic-only path's cost grows as its square). */
  opposing: number;
  provePath(c: Cluster): Promise<void>;
}

export const CONTENDED_MODES: ContendedMode[] = [
  {
    name: 'queue off',
    instances: 1,
    env: {
      TRANSFER_QUEUE: 'false',
      TRANSFER_LOCK_AFTER_ATTEMPTS: '0',
      TRANSFER_MAX_RETRY_MS: '60000',
      TRANSFER_MAX_ATTEMPTS: '500',
      // Movements retrying at once on two wallets: with the default 100 ms cap they stampede (31 conflicts
      // per success at 200, over 60 s for 400 on the embedded PostgreSQL); a 1 s cap spreads them (27 s for
      // 400 on a quiet machine, still over 60 s at load 7, hence 100 each way below).
      TRANSFER_BACKOFF_CAP_MS: '1000',
      // Hundreds of optimistic movements on two wallets take seconds to resolve: slow is not wrong here,
      // nor is waiting for a pooled connection longer than the 5 s default.
      REQUEST_TIMEOUT_MS: '60000',
      DB_CONNECT_TIMEOUT_MS: '60000',
    },
    opposing: 100,
    provePath: async (c) => {
      expect(
        await counterTotal(c.instances, 'transfer_conflicts_total', { reason: 'version' }),
      ).toBeGreaterThan(0);
      expect(await counterTotal(c.instances, 'transfer_attempts_total', { kind: 'locked' })).toBe(0);
    },
  },
  {
    name: 'locked path',
    instances: 1,
    // 200 requests in line for one wallet's lock, ten at a time (the pool): on a busy machine the last
    // waited past the 3 s lock_timeout and got 503. Waiting in line is this path's answer; slow is not wrong.
    // The rest wait in line for a pooled connection, bounded by DB_CONNECT_TIMEOUT_MS (5 s): 400 opposing
    // movements on the embedded PostgreSQL under CI's load took longer, and the last 50 got 503 (stop 27).
    env: {
      TRANSFER_QUEUE: 'false',
      TRANSFER_LOCK_AFTER_ATTEMPTS: '1',
      DB_LOCK_TIMEOUT_MS: '60000',
      DB_CONNECT_TIMEOUT_MS: '60000',
      REQUEST_TIMEOUT_MS: '60000',
    },
    opposing: 200,
    provePath: async (c) => {
      expect(await counterTotal(c.instances, 'transfer_attempts_total', { kind: 'locked' })).toBeGreaterThan(
        0,
      );
      expect(await counterTotal(c.instances, 'transfer_attempts_total', { kind: 'optimistic' })).toBe(0);
    },
  },
  {
    name: 'two instances',
    instances: 2,
    env: {},
    opposing: 200,
    provePath: async (c) => {
      expect(
        await counterTotal(c.instances, 'transfer_conflicts_total', { reason: 'version' }),
      ).toBeGreaterThan(0);
      for (const t of c.instances) {
        expect(await counterTotal([t], 'money_movements_total', { status: '201' })).toBeGreaterThan(0);
      }
    },
  },
];

/** Sessions of the test database waiting for a lock right now. */
export async function lockWaiters(t: TestApp): Promise<number> {
  const { rows } = await t.sql.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
  );
  return Number(rows[0].n);
}

/** Requests against a cluster: `i` says whose turn it is, so consecutive numbers alternate instances. */
export type ClusterRequests = ReturnType<typeof clusterRequests>;

export function clusterRequests(c: Cluster) {
  const post = (
    i: number,
    u: TestUser,
    path: string,
    body: Record<string, unknown>,
    key: string = randomUUID(),
  ) =>
    request(c.pick(i).server)
      .post(`/api/v1${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);
  return {
    post,
    transfer: (
      i: number,
      from: TestUser,
      to: TestWallet,
      amount: string,
      extra: Record<string, unknown> = {},
    ) => post(i, from, '/transfers', { toWalletId: to.id, amount, currency: 'USD', ...extra }),
    /** The caller's wallet as the API shows it (through the first instance). */
    wallet: async (u: TestUser) =>
      (
        await request(c.primary.server)
          .get('/api/v1/wallets/me')
          .auth(u.token, { type: 'bearer' })
          .expect(200)
      ).body as { id: string; balance: string; availableBalance: string },
  };
}

/** How many responses had each status: `{ 201: 50, 422: 150 }`. */
export function countByStatus(results: Array<{ status: number }>): Record<number, number> {
  return results.reduce<Record<number, number>>((m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }), {});
}
