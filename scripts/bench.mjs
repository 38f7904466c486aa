#!/usr/bin/env node
// npm run bench [-- --quick] [-- --soak[=minutes]] [-- --write] [-- --counts]
// Builds and starts the service as a user would (embedded PostgreSQL unless POSTGRES_HOST is set), seeds
// wallets, runs the scenarios of bench/scenarios.mjs against pgbench and node-pg yardsticks measured in
// the same run, checks that money was conserved, prints the figures and the targets (never asserted), and
// (full runs) rewrites BENCHMARKS.md. Fails when money is not conserved, the service errs (5xx, no
// response, a non-zero exit on SIGTERM), answers a ledger read wrongly (the CSV export's line count, a
// point-in-time balance off the seed), or a count per transfer (statements, tuples read, rows written, WAL
// bytes: bench/counts.mjs) goes over its budget in bench/budgets.json. Never on a timing. The parts, one
// job each, are in bench/.
import { mkdirSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { eventsScenario } from '../bench/events.mjs';
import { checkBudgets, printBudgets, transferBudgets } from '../bench/counts.mjs';
import { limitsScenario } from '../bench/limits.mjs';
import { checkMoney } from '../bench/money.mjs';
import { runRecord, saveRun, writeBenchmarks } from '../bench/benchmarks-md.mjs';
import { profileByArea } from '../bench/profile-summary.mjs';
import { gitCommit, ledgerFailures, log, printSummary, serviceErrors, targets } from '../bench/report.mjs';
import { options, runScenarios } from '../bench/scenarios.mjs';
import { checkAccess, seedWallets } from '../bench/seeding.mjs';
import { build, startService } from '../bench/service.mjs';

// --instances: only the one-against-two-instances scenario (bench/instances.mjs).
if (process.argv.includes('--instances')) {
  const { runInstances } = await import('../bench/instances.mjs');
  process.exit(await runInstances(process.argv));
}

const o = options(process.argv);
const stamp = new Date()
  .toISOString()
  .replace(/[-:.TZ]/g, '')
  .slice(0, 14);
log(o.quick ? 'quick run' : 'full run', `${o.wallets} wallets, ${o.seconds} s per scenario`);
// --no-build: dist/ as it is (a second run beside one that has just built it).
if (!process.argv.includes('--no-build') && !build()) process.exit(1);

// Full runs profile the service (--cpu-prof) for the CPU per transfer by area of BENCHMARKS.md.
const profileDir = o.write ? `.bench/profile-${stamp}` : undefined;
const service = await startService(stamp, { profileDir });
log(
  `service pid ${service.pid} on ${service.base}; PostgreSQL ${service.db.host}:${service.db.port}/${service.db.database}`,
);
const pool = new pg.Pool({ ...service.db, max: 4 });
const q = (sql, params) => pool.query(sql, params).then((r) => r.rows);

let results;
let failure;
let serverVersion;
try {
  const users = await seedWallets(q, { count: o.wallets, balance: o.balance });
  await checkAccess(service.base, users);
  log(`seeded ${users.length} wallets of ${o.balance} USD`);
  const ctx = { base: service.base, db: service.db, external: service.external, service, users, q };
  [{ serverVersion }] = await q(
    `SELECT 'PostgreSQL ' || current_setting('server_version') AS "serverVersion"`,
  );
  results = await runScenarios(ctx, o);
  if (!o.countsOnly) results.events = await eventsScenario(ctx, o);
  // Issue 24: limits and monitors on every wallet against none (bench/limits.mjs), in full runs.
  if (!o.quick) {
    // Its own failure (a scenario of another issue) is reported, not the end of the run.
    results.limits = await limitsScenario(ctx, o).catch((err) => {
      log(`limits: failed: ${String(err)}`);
      return { error: String(err) };
    });
  }
  results.money = await checkMoney(q, service.base);
  log('money', JSON.stringify(results.money));
} catch (err) {
  failure = err;
}
await pool.end();
const exitCode = await service.stop();
if (failure) {
  console.error(failure);
  console.error(service.output().slice(-4000));
  process.exit(1);
}
results.peakRssMb = service.peakRssMb();
results.exitCode = exitCode;
log(`service exited with ${exitCode}; peak RSS ${results.peakRssMb} MB`);

if (o.countsOnly) {
  const rows = checkBudgets(results.counts.perTransfer, transferBudgets());
  printBudgets(rows, results.counts.sources);
  for (const [name, measured, budget] of rows.filter(([, , , isOver]) => isOver)) {
    console.error(`OVER BUDGET: ${name} per transfer ${measured} > ${budget} (bench/budgets.json)`);
  }
  process.exit(rows.some(([, , , isOver]) => isOver) || !results.money.conserved || exitCode !== 0 ? 1 : 0);
}

mkdirSync('.bench', { recursive: true });
writeFileSync(`.bench/results-${stamp}.json`, JSON.stringify({ options: o, results }, null, 2));

const t = targets(results);
printSummary(results, t);
if (o.write) {
  const byArea = profileByArea(`${profileDir}/service.cpuprofile`, results.scenarios[0].service);
  saveRun(
    runRecord({
      o,
      results,
      external: service.external,
      db: service.db,
      serverVersion,
      byArea,
      commit: gitCommit(),
    }),
  );
  await writeBenchmarks();
  log('wrote bench/results, bench/charts and BENCHMARKS.md');
}
const budgets = checkBudgets(results.counts.perTransfer, transferBudgets());
printBudgets(budgets, results.counts.sources);
const over = budgets.filter(([, , , isOver]) => isOver);
const idle = results.counts.idle;
log(
  `idle instance: ${idle.statementsPerSecond ?? 'n/a'} statements/s, ${idle.transactionsPerSecond} transactions/s to the database (${idle.seconds} s)`,
);
const errors = serviceErrors(results);
const wrong = ledgerFailures(results);
if (!results.money.conserved) console.error('MONEY NOT CONSERVED');
for (const w of wrong) console.error(`WRONG ANSWER: ${w}`);
if (errors) console.error(`the service erred: ${errors} responses were 5xx or none`);
if (exitCode !== 0) console.error(`service exited with ${exitCode} on SIGTERM`);
for (const [name, measured, budget] of over) {
  console.error(`OVER BUDGET: ${name} per transfer ${measured} > ${budget} (bench/budgets.json)`);
}
if (!results.money.conserved || errors || wrong.length || exitCode !== 0 || over.length) process.exit(1);
log('done');
process.exit(0);
