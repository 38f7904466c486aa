import type { Counter } from 'prom-client';
import { MetricsService } from '../../src/health/metrics.service';
import { startTestApp, type TestApp } from './app';

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
