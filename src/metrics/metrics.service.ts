import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Money } from '../common/money/money';
import { AppConfig } from '../config/app-config';

/** What counting money moved needs of an engine outcome (one movement, or a batch of them). */
export interface MovedOutcome {
  kind: string;
  transaction?: { type: string; status: string; currency: string; amount: Money };
  items?: MovedOutcome[];
}

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

  readonly refusals = new Counter({
    name: 'refusals_total',
    help: 'Problem responses (RFC 9457) by their code: every 4xx and 5xx the service answers, replays included',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  /**
   * The sum of the amounts of completed movements, in currency units, by currency and transaction type
   * (a captured hold counts when captured, for the captured amount; holds, voids and expiries move
   * nothing). The amount is the counter's value, never a label. Prometheus samples are float64, so this
   * is a dashboard figure, exact to the cent only up to about 10^13: the ledger is the record.
   */
  readonly moneyMoved = new Counter({
    name: 'money_moved_total',
    help: 'Amount moved by completed movements, in units of the currency, by currency and transaction type',
    labelNames: ['currency', 'type'] as const,
    registers: [this.registry],
  });

  readonly queryDuration = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'PostgreSQL query duration, from the pool client sending it to its answer, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly buildInfo = new Gauge({
    name: 'hfts_build_info',
    help: 'Always 1; the labels say which build runs (version from package.json, git commit, Node.js)',
    labelNames: ['version', 'commit', 'node'] as const,
    registers: [this.registry],
  });

  constructor(config: AppConfig) {
    collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: packageVersion(), commit: commitOf(config), node: process.version }, 1);
  }

  /** Counts what a movement (or each item of a batch) moved; refusals, replays and holds move nothing. */
  countMoved(outcome: MovedOutcome): void {
    const tx = outcome.transaction;
    if (tx?.status === 'COMPLETED') {
      this.moneyMoved.inc(
        { currency: tx.currency, type: tx.type.toLowerCase() },
        // The one place an amount becomes a float: a Prometheus sample is nothing else.
        Number(tx.amount.toFixed4()),
      );
    }
    for (const item of outcome.items ?? []) this.countMoved(item);
  }

  /**
   * The pg pool behind TypeORM (the engine runs its statements on the same one; PrimaryPool hands it over):
   * its connections read at every scrape, and the duration of every query any of its clients sends.
   */
  watchPool(pool: Pool): void {
    const gauge = (name: string, help: string, read: () => number): Gauge =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    gauge('db_pool_connections_total', 'Connections the pool holds, busy or idle', () => pool.totalCount);
    gauge('db_pool_connections_idle', 'Connections the pool holds that are idle', () => pool.idleCount);
    gauge(
      'db_pool_waiting_requests',
      'Requests for a connection waiting because every connection is busy',
      () => pool.waitingCount,
    );
    const timed = new WeakSet<PoolClient>();
    pool.on('acquire', (client) => {
      if (timed.has(client)) return;
      timed.add(client);
      timeQueries(client, this.queryDuration);
    });
  }

  trackRedis(): void {
    if (!this.registry.getSingleMetric('redis_up')) this.registry.registerMetric(this.redisUp);
  }
}

/**
 * Wraps one client's query() so that each query's duration is observed. Every form pg accepts is passed
 * through untouched (callback, promise, a submittable such as a query stream); only timing is added.
 */
function timeQueries(client: PoolClient, histogram: Histogram<'outcome'>): void {
  // Kept unbound on purpose: it is called with the client as `this`, as pg calls it.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const query = client.query as (...args: unknown[]) => unknown;
  const timed = function (this: PoolClient, ...args: unknown[]): unknown {
    const end = histogram.startTimer();
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = function (this: unknown, err: unknown, ...rest: unknown[]): unknown {
        end({ outcome: err ? 'error' : 'ok' });
        return (callback as (...a: unknown[]) => unknown).call(this, err, ...rest);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args) as
      | { then?: (ok: () => void, failed: () => void) => unknown; once?: (e: string, f: () => void) => void }
      | undefined;
    if (typeof result?.then === 'function') {
      result.then(
        () => end({ outcome: 'ok' }),
        () => end({ outcome: 'error' }),
      );
    } else if (typeof result?.once === 'function') {
      result.once('end', () => end({ outcome: 'ok' }));
      result.once('error', () => end({ outcome: 'error' }));
    }
    return result;
  };
  client.query = timed as PoolClient['query'];
}

/**
 * The version in the project's package.json, found from this file up (src/metrics in development and
 * tests, dist/src/metrics when built). Not imported: the build would then copy package.json into dist/.
 */
function packageVersion(): string {
  for (let dir = __dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file))
      return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  }
  return 'unknown';
}

/** The commit this build is of: GIT_COMMIT (set by the image build), else the checkout's, else 'unknown'. */
function commitOf(config: AppConfig): string {
  if (config.env.GIT_COMMIT) return config.env.GIT_COMMIT;
  checkoutCommit ??= gitHead();
  return checkoutCommit;
}

let checkoutCommit: string | undefined;

function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: __dirname,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    }).trim();
  } catch {
    return 'unknown';
  }
}
