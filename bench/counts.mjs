// Costs per transfer that do not depend on the machine's speed (issue 22, item 5), read from PostgreSQL
// around a fixed number of transfers, and the guard that fails the bench when one goes over its budget in
// bench/budgets.json. Also the queries per second of an idle instance (issue 26).
//
// - statements: pg_stat_statements calls in the bench's database, when the server preloads it;
// - transactions: xact_commit + xact_rollback of pg_stat_database (outside a transaction every statement of
//   the service is one, so this stands in for statements where pg_stat_statements is missing);
// - tuples read: seq_tup_read + idx_tup_fetch over the database's tables (pg_stat_user_tables);
// - rows written: n_tup_ins + n_tup_upd + n_tup_del over the same tables;
// - WAL bytes: pg_current_wal_lsn() before and after, only on a server the bench has to itself (the
//   embedded one): on a shared server every other database's writes land in the same WAL.
//
// PostgreSQL 15 publishes a backend's table and database counters when it goes idle, at most once a
// second, and an idle backend's last ones within 10 s (PGSTAT_IDLE_INTERVAL): readings are taken after the
// service has been quiet that long. The background work an idle instance does on its own (pollers, jobs)
// is measured over a quiet window first and its rate subtracted from the counted run.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from './report.mjs';

const STATS_SETTLE_MS = 11000;
export const IDLE_SECONDS = 5;
const BUDGETS_FILE = new URL('./budgets.json', import.meta.url);

/** The counters of the bench's database, at one instant. */
async function read(q, statements, ownServer) {
  // One statement, so one transaction: the next reading counts exactly one of each for this one.
  const calls = statements.available
    ? `(SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = d.datid)`
    : 'NULL';
  const [row] = await q(
    `SELECT d.xact_commit + d.xact_rollback AS transactions, ${calls} AS statements,
            (SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) FROM pg_stat_user_tables) AS tuples_read,
            (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables) AS rows_written,
            pg_current_wal_lsn()::text AS lsn
       FROM pg_stat_database d WHERE d.datname = current_database()`,
  );
  const out = {
    at: performance.now(),
    transactions: Number(row.transactions),
    tuplesRead: Number(row.tuples_read),
    rowsWritten: Number(row.rows_written),
    lsn: ownServer ? row.lsn : null,
    statements: row.statements === null ? null : Number(row.statements),
  };
  return out;
}

/** Bytes between two LSNs ('16/B374D848'). */
const lsnBytes = (a, b) => {
  const n = (lsn) => {
    const [hi, lo] = lsn.split('/');
    return BigInt(`0x${hi}`) * 2n ** 32n + BigInt(`0x${lo}`);
  };
  return Number(n(b) - n(a));
};

/** The counters' changes between two readings, and the time between them in seconds. */
function delta(a, b) {
  return {
    seconds: (b.at - a.at) / 1000,
    statements: a.statements === null ? null : b.statements - a.statements,
    transactions: b.transactions - a.transactions,
    tuplesRead: b.tuplesRead - a.tuplesRead,
    rowsWritten: b.rowsWritten - a.rowsWritten,
    walBytes: a.lsn === null ? null : lsnBytes(a.lsn, b.lsn),
  };
}

/**
 * Quiet, then IDLE_SECONDS of nothing (the idle instance's own queries per second), then `run` (which
 * returns how many transfers it made), quiet again: the counts per transfer, the idle background's rate
 * taken out. The bench's own readings are taken out too (each is one statement in one transaction).
 */
export async function countedRun(ctx, run) {
  const { q, statements } = ctx;
  const own = Boolean(!ctx.external);
  await sleep(STATS_SETTLE_MS);
  const quiet0 = await read(q, statements, own);
  await sleep(IDLE_SECONDS * 1000);
  const start = await read(q, statements, own);
  const transfers = await run();
  await sleep(STATS_SETTLE_MS);
  const end = await read(q, statements, own);
  const readingStatements = statements.available ? 1 : 0;
  const idle = delta(quiet0, start);
  const busy = delta(start, end);
  const rate = (x) => (x === null ? null : x / idle.seconds);
  const per = (key, ownPerReading) => {
    if (busy[key] === null) return null;
    const background = key === 'walBytes' ? 0 : rate(idle[key] - ownPerReading) * busy.seconds;
    return +Math.max(0, (busy[key] - ownPerReading - background) / transfers).toFixed(2);
  };
  const idleRate = (x, ownPerReading) =>
    x === null ? null : +((x - ownPerReading) / idle.seconds).toFixed(2);
  return {
    transfers,
    perTransfer: {
      statements: per('statements', readingStatements),
      transactions: per('transactions', 1),
      tuplesRead: per('tuplesRead', 0),
      rowsWritten: per('rowsWritten', 0),
      walBytes: per('walBytes', 0),
    },
    idle: {
      seconds: +idle.seconds.toFixed(1),
      statementsPerSecond: idleRate(idle.statements, readingStatements),
      transactionsPerSecond: idleRate(idle.transactions, 1),
      tuplesReadPerSecond: idleRate(idle.tuplesRead, 0),
    },
    sources: {
      statements: statements.available ? 'pg_stat_statements' : null,
      walBytes: own ? 'pg_current_wal_lsn()' : null,
    },
  };
}

/** The budgets of bench/budgets.json for a transfer. */
export function transferBudgets() {
  return JSON.parse(readFileSync(BUDGETS_FILE, 'utf8')).transfer;
}

/**
 * Each count against its budget: [name, measured, budget, over]. A count that could not be measured on
 * this server (null) is skipped, with a one-line note.
 */
export function checkBudgets(perTransfer, budgets) {
  const rows = [];
  for (const [name, budget] of Object.entries(budgets)) {
    if (name === 'about' || typeof budget !== 'number') continue;
    const measured = perTransfer[name];
    rows.push([name, measured, budget, measured !== null && measured !== undefined && measured > budget]);
  }
  return rows;
}

export function printBudgets(rows, sources) {
  log('counts per transfer against bench/budgets.json (machine-independent; over budget fails the bench):');
  for (const [name, measured, budget, over] of rows) {
    if (measured === null || measured === undefined) {
      const why =
        name === 'statements'
          ? 'pg_stat_statements is not loaded on this server (shared_preload_libraries)'
          : 'the server is shared with other databases, so its WAL is not the service alone';
      log(`  ${name}: skipped (${why})`);
    } else {
      log(`  ${over ? 'OVER  ' : 'ok    '} ${name}: ${measured} (budget ${budget})`);
    }
  }
  if (!sources.statements) log('  (statements: pg_stat_database transactions stand in for them)');
}
