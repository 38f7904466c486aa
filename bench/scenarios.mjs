// What the bench runs, in order, and what it reads around each run. Issue 13's scenarios: four wallet
// distributions at 64 connections (closed loop), each against pgbench with the same distribution (the
// per-request plain-SQL limit, best of 8 and 64 clients), then at half its own peak rate (open loop); the
// set-based ceiling; the batch API. Then the older measurements: the node-pg baseline, history pages,
// a login burst, and the soak when asked for. Issue 14's ledger reads (CSV export, point-in-time balance)
// run on the history's statement between the history pages and the login burst, with no other load.
import { setTimeout as sleep } from 'node:timers/promises';
import { distribution } from './distributions.mjs';
import { balanceAtDepths, csvExport } from './ledger.mjs';
import { countedRun, IDLE_SECONDS } from './counts.mjs';
import { runVariant, VARIANTS } from './variants.mjs';
import { batchLoad, historyPages, loginBurst, pacedLoad, probeBatch, transferLoad } from './load.mjs';
import { log } from './report.mjs';
import { PASSWORD, seedStatement } from './seeding.mjs';
import { batchSizeDelta, readMetrics } from './service.mjs';
import {
  nodePgBaseline,
  perRequestScript,
  PGBENCH,
  pgbenchVersion,
  runPgbench,
  setBasedScript,
} from './sql-baselines.mjs';

/** Sizes and durations: `--quick` keeps every scenario, short and small (a CI smoke run). */
export function options(argv) {
  const quick = argv.includes('--quick');
  // --soak[=minutes] (default 10): afterwards, uniform transfers at half the uniform peak for that long,
  // sampling the service's RSS and heap every 30 s, to show whether memory grows.
  const soakArg = argv.find((a) => a === '--soak' || a.startsWith('--soak='));
  const soakMinutes = soakArg ? Number(soakArg.split('=')[1] ?? 10) : 0;
  if (!(soakMinutes >= 0)) throw new Error(`${soakArg}: minutes must be a number`);
  return {
    quick,
    // Full runs profile the service and write bench/results, bench/charts and BENCHMARKS.md; --write makes
    // a quick run do the same (to check the report, not to publish its figures).
    write: !argv.includes('--counts') && (!quick || argv.includes('--write')),
    // --counts: only the counts per transfer and their budgets (a minute; for a change to the write path).
    countsOnly: argv.includes('--counts'),
    soakMinutes,
    wallets: quick ? 1000 : 10000,
    balance: '100000', // enough that no sender runs dry in any scenario (balance >= 0 is a CHECK)
    seconds: quick ? 2 : 12,
    pgbenchSeconds: quick ? 2 : 8,
    warmupSeconds: quick ? 2 : 5,
    historyEntries: quick ? 10000 : 100000,
    balanceAt: { connections: 4, seconds: quick ? 1 : 3 },
    connections: 64,
    pgbenchClients: [8, 64],
    countedTransfers: 300,
    batch: { connections: 8, size: 100 },
  };
}

/** The four distributions of issue 13, with the target ratio of each against its own pgbench limit. */
export function distributions(o) {
  return [
    {
      ...distribution(`uniform-${o.wallets}`, o.wallets),
      label: `uniform over ${o.wallets} wallets`,
      target: 1,
    },
    { ...distribution('uniform-200', 200), label: 'uniform over 200 wallets', target: 1 },
    {
      ...distribution('hotspot', o.wallets, { hot: 5, hotPercent: 80 }),
      label: `hot-spot: 80% of picks on 5 of ${o.wallets} wallets`,
      target: 2,
    },
    {
      ...distribution('merchant', o.wallets, { merchant: true }),
      label: `single merchant: ${o.wallets - 1} wallets pay one`,
      target: 2,
    },
  ];
}

export const BATCH_TARGET = 5;
const STATS_NOTE = '11 s';

/**
 * pg_stat_statements, where the server has it (the embedded one preloads it). Elsewhere (the machine's
 * server, most managed ones) what needs it is skipped, with one line saying so.
 */
export async function statementsReader(q) {
  await q('CREATE EXTENSION IF NOT EXISTS pg_stat_statements').catch(() => undefined);
  const available = await q('SELECT pg_stat_statements_reset()').then(
    () => true,
    () => false,
  );
  if (!available) {
    log(
      'pg_stat_statements is not loaded on this server (shared_preload_libraries): statements per transfer and the heaviest statements are skipped',
    );
  }
  return {
    available,
    reset: async () => {
      if (available) await q('SELECT pg_stat_statements_reset()');
    },
    /** Statements and execution time inside the server per transfer, and the heaviest statements. */
    read: async (transfers) => {
      if (!available) return null;
      const rows = await q(
        `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls::int AS calls,
                total_exec_time::float AS total_ms, mean_exec_time::float AS mean_ms
           FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query !~* 'pg_stat_statements|^SELECT \\$1$|^(BEGIN|END|COMMIT)'
          ORDER BY total_exec_time DESC`,
      );
      const total = rows.reduce((sum, r) => sum + r.total_ms, 0);
      const calls = rows.reduce((sum, r) => sum + r.calls, 0);
      return {
        execMsPerTransfer: transfers ? +(total / transfers).toFixed(3) : null,
        statementsPerTransfer: transfers ? +(calls / transfers).toFixed(2) : null,
        top: rows.slice(0, 5).map((r) => ({
          query: r.query.slice(0, 110),
          calls: r.calls,
          meanMs: +r.mean_ms.toFixed(3),
          totalMs: Math.round(r.total_ms),
        })),
      };
    },
  };
}

/**
 * Runs one load and reads around it: transfers/s, CPU milliseconds per transfer of the service, of
 * PostgreSQL and of this process, the engine's conflicts and retries, the batch sizes it wrote, and
 * (when `statements`) PostgreSQL's statements per transfer.
 */
async function measured(ctx, run, { statements = true } = {}) {
  if (statements) await ctx.statements.reset();
  const m0 = await readMetrics(ctx.base);
  const cpu0 = ctx.service.cpuSeconds();
  const pg0 = ctx.service.postgresCpuSeconds();
  const gen0 = process.cpuUsage();
  // The monotonic clock V8 stamps CPU profiles with: the profile's samples of this window (full runs).
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await run();
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const gen = process.cpuUsage(gen0);
  const m1 = await readMetrics(ctx.base);
  const perTransfer = (seconds) =>
    seconds === null || !r.transfers ? null : +((seconds * 1000) / r.transfers).toFixed(3);
  return {
    ...r,
    windowUs: [fromUs, toUs],
    transfersPerSecond: Math.round(r.transfers / r.seconds),
    cpuMsPerTransfer: {
      service: perTransfer(ctx.service.cpuSeconds() - cpu0),
      postgres: pg0 === null ? null : perTransfer(ctx.service.postgresCpuSeconds() - pg0),
      loadGenerator: perTransfer((gen.user + gen.system) / 1e6),
    },
    engineConflicts: m1.conflicts - m0.conflicts,
    engineRetries: m1.retries - m0.retries,
    batchSizes: batchSizeDelta(m0.batchSize, m1.batchSize),
    database: statements ? await ctx.statements.read(r.transfers) : undefined,
  };
}

/** pgbench's script at each client count; the best is the limit. Null without pgbench. */
async function pgbenchBest(ctx, o, name, script, transfersPerTransaction = 1) {
  if (!PGBENCH) return null;
  const runs = [];
  for (const clients of o.pgbenchClients) {
    await ctx.statements.reset();
    const r = await runPgbench(ctx.db, {
      name,
      script,
      clients,
      seconds: o.pgbenchSeconds,
      transfersPerTransaction,
      postgresCpu: ctx.service.postgresCpuSeconds,
    });
    r.database = await ctx.statements.read(r.transfersPerSecond * o.pgbenchSeconds);
    delete r.database?.top;
    runs.push(r);
    log(`  pgbench ${name} -c ${clients}: ${r.transfersPerSecond} transfers/s`);
  }
  const best = runs.reduce((x, y) => (y.transfersPerSecond > x.transfersPerSecond ? y : x));
  return {
    transfersPerSecond: best.transfersPerSecond,
    clients: best.clients,
    postgresCpuMsPerTransfer: best.postgresCpuMsPerTransfer,
    pgbenchCpuMsPerTransfer: best.pgbenchCpuMsPerTransfer,
    runs,
  };
}

const ratio = (service, limit) => (limit ? +(service / Math.max(1, limit)).toFixed(2) : null);

export async function runScenarios(ctx, o) {
  ctx.statements = await statementsReader(ctx.q);
  const results = {
    date: new Date().toISOString(),
    scenarios: [],
    pgbench: Boolean(PGBENCH),
    pgbenchVersion: pgbenchVersion(),
  };
  const ds = distributions(o);
  if (!PGBENCH) log('pgbench not found (/usr/bin/pgbench, or PGBENCH=path): no plain-SQL limit, no ratios');

  // The counts per transfer the guard checks, first, on the freshly seeded database: one connection, so
  // that no write combines several transfers, and a fixed number of them before anything else, so that
  // the tables are the same size on every machine (a timed warm-up would make more rows on a faster one).
  // Before them, the idle instance's own queries.
  log(
    `counted: ${IDLE_SECONDS} s idle, then ${o.countedTransfers} transfers on one connection (quiet ${STATS_NOTE} around each reading)`,
  );
  let counted = null;
  results.counts = await countedRun(ctx, async () => {
    counted = await transferLoad(ctx, ds[0], { connections: 1, amount: o.countedTransfers });
    return counted.transfers;
  });
  results.counts.refused = counted.refused;
  results.counts.errors = counted.errors;
  log('counted', JSON.stringify(results.counts));
  if (o.countsOnly) return results;

  // Warm-up (not recorded): the JIT and the connection pools reach steady state before anything is measured.
  log('warm-up');
  await transferLoad(ctx, ds[0], { connections: o.connections, duration: o.warmupSeconds });

  for (const d of ds) {
    log(`scenario ${d.name}: pgbench, one transfer per transaction`);
    const limit = await pgbenchBest(ctx, o, d.name, perRequestScript(d));
    log(`scenario ${d.name}: service, ${o.connections} connections, closed loop`);
    const service = await measured(ctx, () =>
      transferLoad(ctx, d, { connections: o.connections, duration: o.seconds }),
    );
    const rate = Math.max(20, Math.round(service.transfersPerSecond / 2));
    log(`scenario ${d.name}: service at ${rate}/s (half its peak), open loop`);
    const paced = await measured(
      ctx,
      () => pacedLoad(ctx, d, { rate, duration: o.seconds, connections: o.connections }),
      { statements: false },
    );
    const s = {
      name: d.name,
      label: d.label,
      distribution: d,
      target: d.target,
      service,
      paced,
      limit,
      ratio: ratio(service.transfersPerSecond, limit?.transfersPerSecond),
    };
    results.scenarios.push(s);
    log(
      d.name,
      JSON.stringify({
        tps: service.transfersPerSecond,
        p99: service.latencyMs.p99,
        limit: limit?.transfersPerSecond,
        ratio: s.ratio,
        cpuMs: service.cpuMsPerTransfer,
        batch: service.batchSizes.mean,
        refused: service.refused,
        paced: { rate, p99: paced.latencyMs.p99, refused: paced.refused },
      }),
    );
  }
  const uniform = results.scenarios[0];

  log('ceiling: pgbench, ten transfers per set-based statement');
  results.ceiling = await pgbenchBest(ctx, o, `${ds[0].name}-set-based`, setBasedScript(ds[0], 10), 10);

  const probe = await probeBatch(ctx, ds[0]);
  if (probe.status === 200 || probe.status === 201) {
    log(`batch API: ${o.batch.connections} connections, ${o.batch.size} transfers per request`);
    const service = await measured(ctx, () => batchLoad(ctx, ds[0], { ...o.batch, duration: o.seconds }));
    results.batch = {
      available: true,
      target: BATCH_TARGET,
      service,
      ratio: ratio(service.transfersPerSecond, uniform.limit?.transfersPerSecond),
    };
    log('batch', JSON.stringify({ tps: service.transfersPerSecond, ratio: results.batch.ratio }));
  } else {
    // 404 while the endpoint is being built: skipped. Any other refusal of a valid batch is shown.
    results.batch = { available: false, status: probe.status, target: BATCH_TARGET };
    if (probe.status !== 404) results.batch.body = probe.body.slice(0, 500);
    log(`batch API: not available (${probe.status}): scenario skipped`, results.batch.body ?? '');
  }

  results.variants = [];
  for (const variant of VARIANTS) results.variants.push(await runVariant(ctx, o, variant));

  log('node-pg baseline (uniform)');
  results.nodePg = await nodePgBaseline(ctx.db, ctx.users, ds[0], {
    workers: o.connections,
    seconds: o.seconds,
    postgresCpu: ctx.service.postgresCpuSeconds,
  });

  log(`statement: seeding a wallet of ${o.historyEntries} entries`);
  const statement = await seedStatement(ctx.q, o.historyEntries);
  results.history = await history(ctx, o, ds[0], uniform.service.transfersPerSecond, statement);
  log(`CSV export of the ${o.historyEntries}-entry statement`);
  results.csvExport = await csvExport(ctx, statement);
  const c = results.csvExport;
  log('CSV export', JSON.stringify({ lines: c.lines, rowsPerSecond: c.rowsPerSecond, rss: c.rss }));
  for (const f of c.failures) log(`FAILED: ${f}`);
  log(
    `point-in-time balance at six depths, ${o.balanceAt.connections} connections, ${o.balanceAt.seconds} s each`,
  );
  results.balanceAt = await balanceAtDepths(ctx, statement, {
    connections: o.balanceAt.connections,
    duration: o.balanceAt.seconds,
  });
  for (const x of results.balanceAt.depths) {
    log(
      `  balance ${x.label} (${x.at}): ${x.answer} ${x.correct ? 'ok' : `EXPECTED ${x.expected}`}, p50/p99 ${x.latencyMs.p50}/${x.latencyMs.p99} ms`,
    );
  }
  for (const f of results.balanceAt.failures) log(`FAILED: ${f}`);
  results.loginBurst = await burst(ctx, o, ds[0]);
  if (o.soakMinutes > 0) results.soak = await soak(ctx, o, ds[0], uniform.service.transfersPerSecond);
  return results;
}

// History: one wallet with a long statement (seedStatement), paged at random depths, with no other load;
// while transfers run at half the uniform peak (busy, not saturated: the target's condition); and while 16
// connections transfer as fast as they can (both cores saturated, so a page waits its turn like everything else).
async function history(ctx, o, d, uniformTps, { reader, range }) {
  const idle = Math.max(2, Math.round(o.seconds / 4));
  const pages = (connections, duration, from, to) =>
    historyPages(ctx, reader, range, { connections, duration, from, to });
  const idleNewest = await pages(2, idle, 0.99, 1);
  const idleOldest = await pages(2, idle, 0, 0.01);
  const idleRandom = await pages(2, idle);
  const rate = Math.max(50, Math.round(uniformTps / 2));
  const background = pacedLoad(ctx, d, { rate, duration: o.seconds, connections: o.connections });
  const paced = await pages(2, o.seconds);
  const pacedTransfers = await background;
  const saturating = transferLoad(ctx, d, { connections: 16, duration: o.seconds });
  const saturated = await pages(8, o.seconds);
  await saturating;
  const r = {
    entries: o.historyEntries,
    ...paced,
    transfersPerSecond: Math.round(pacedTransfers.transfers / pacedTransfers.seconds),
    offeredTransfersPerSecond: rate,
    idle: idleRandom,
    idleNewest,
    idleOldest,
    saturated,
  };
  log('history', JSON.stringify({ p99: r.latencyMs.p99, pagesPerSecond: r.pagesPerSecond }));
  return r;
}

// Login burst: transfer latency before and during 50 concurrent logins (bcrypt on the service's pool).
async function burst(ctx, o, d) {
  log('login burst');
  const half = Math.max(2, Math.round(o.seconds / 2));
  const calm = await transferLoad(ctx, d, { connections: 32, duration: half });
  const during = transferLoad(ctx, d, { connections: 32, duration: half });
  await sleep(500);
  const logins = await loginBurst(ctx, ctx.users.slice(100, 150), PASSWORD);
  const busy = await during;
  const r = {
    logins: logins.statuses.length,
    loginsOk: logins.statuses.filter((s) => s === 200).length,
    loginStatuses: logins.statuses.reduce((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {}),
    burstSeconds: logins.seconds,
    transferP99Before: calm.latencyMs.p99,
    transferP99During: busy.latencyMs.p99,
    transfersPerSecondBefore: Math.round(calm.transfers / calm.seconds),
    transfersPerSecondDuring: Math.round(busy.transfers / busy.seconds),
    refused: { ...calm.refused, ...busy.refused },
  };
  log('login burst', JSON.stringify(r));
  return r;
}

/** Least-squares slope of y over x. */
const slope = (points) => {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx ? points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx : 0;
};

async function soak(ctx, o, d, uniformTps) {
  const rate = Math.max(20, Math.round(uniformTps / 2));
  const slice = Math.min(30, o.soakMinutes * 60);
  const slices = Math.max(1, Math.round((o.soakMinutes * 60) / slice));
  log(`soak: uniform transfers at ${rate}/s for ${o.soakMinutes} min, sampled every ${slice} s`);
  const samples = [];
  for (let i = 0; i < slices; i++) {
    // The heap is a sawtooth (it grows until a GC): the lowest reading of each slice, sampled every
    // second, follows what survives collection, which is what a leak would raise.
    let heapFloor = Infinity;
    let rssFloor = Infinity;
    const sampler = setInterval(() => {
      rssFloor = Math.min(rssFloor, ctx.service.rssMb());
      readMetrics(ctx.base).then(
        (m) => (heapFloor = Math.min(heapFloor, m.heapUsedMb)),
        () => undefined,
      );
    }, 1000);
    const r = await pacedLoad(ctx, d, { rate, duration: slice, connections: o.connections });
    clearInterval(sampler);
    samples.push({
      minute: +(((i + 1) * slice) / 60).toFixed(1),
      rssMb: Math.round(rssFloor),
      heapUsedMb: heapFloor,
      transfersPerSecond: Math.round(r.transfers / r.seconds),
      p99: r.latencyMs.p99,
      refused: r.refused,
    });
    log('soak', JSON.stringify(samples.at(-1)));
  }
  // Growth is judged on the floors, after the first two minutes (JIT, pools and caches warming up).
  const settled = samples.filter((x) => x.minute > 2);
  const series = settled.length >= 2 ? settled : samples;
  return {
    minutes: o.soakMinutes,
    offeredRate: rate,
    samples,
    rssSlopeMbPerMinute: +slope(series.map((x) => [x.minute, x.rssMb])).toFixed(2),
    heapSlopeMbPerMinute: +slope(series.map((x) => [x.minute, x.heapUsedMb])).toFixed(2),
  };
}
