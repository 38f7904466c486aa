#!/usr/bin/env node
// npm run bench [-- --quick] [-- --soak[=minutes]]
// Builds and starts the service as a user would (embedded PostgreSQL unless POSTGRES_HOST is set), seeds
// wallets, runs the scenarios of bench/scenarios.mjs against pgbench and node-pg yardsticks measured in
// the same run, checks that money was conserved, prints the figures and the targets (never asserted), and
// (full runs) rewrites BENCHMARKS.md. Fails only when money is not conserved, the service errs (5xx, no
// response, a non-zero exit on SIGTERM) or answers a ledger read wrongly (the CSV export's line count, a
// point-in-time balance off the seed). The parts, one job each, are in bench/.
import { mkdirSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { eventsScenario } from '../bench/events.mjs';
import { checkMoney } from '../bench/money.mjs';
import {
  ledgerFailures,
  log,
  printSummary,
  serviceErrors,
  targets,
  writeBenchmarks,
} from '../bench/report.mjs';
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
if (!build()) process.exit(1);

const service = await startService(stamp);
log(
  `service pid ${service.pid} on ${service.base}; PostgreSQL ${service.db.host}:${service.db.port}/${service.db.database}`,
);
const pool = new pg.Pool({ ...service.db, max: 4 });
const q = (sql, params) => pool.query(sql, params).then((r) => r.rows);

let results;
let failure;
try {
  const users = await seedWallets(q, { count: o.wallets, balance: o.balance });
  await checkAccess(service.base, users);
  log(`seeded ${users.length} wallets of ${o.balance} USD`);
  const ctx = { base: service.base, db: service.db, external: service.external, service, users, q };
  results = await runScenarios(ctx, o);
  results.events = await eventsScenario(ctx, o);
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

mkdirSync('.bench', { recursive: true });
writeFileSync(`.bench/results-${stamp}.json`, JSON.stringify({ options: o, results }, null, 2));

const t = targets(results);
printSummary(results, t);
if (!o.quick) {
  writeBenchmarks(results, t, o, { external: service.external, db: service.db });
  log('wrote BENCHMARKS.md');
}
const errors = serviceErrors(results);
const wrong = ledgerFailures(results);
if (!results.money.conserved) console.error('MONEY NOT CONSERVED');
for (const w of wrong) console.error(`WRONG ANSWER: ${w}`);
if (errors) console.error(`the service erred: ${errors} responses were 5xx or none`);
if (exitCode !== 0) console.error(`service exited with ${exitCode} on SIGTERM`);
if (!results.money.conserved || errors || wrong.length || exitCode !== 0) process.exit(1);
log('done');
process.exit(0);
