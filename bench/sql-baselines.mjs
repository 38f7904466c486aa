// Plain-SQL yardsticks on the service's own database, in the same run:
// - pgbench with the same transfer the service writes, one transfer per transaction (the per-request
//   plain-SQL limit issue 13 measures the service against), and ten transfers per set-based statement
//   (the ceiling);
// - a node-pg loop of the same per-request transfer (no HTTP, Nest or TypeORM), the older yardstick.
// Wallets come from bench_wallets(n, id, user_id) (seeding.mjs), pairs from distributions.mjs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { pgbenchPair, samplePair } from './distributions.mjs';
import { reapedChildrenCpuSeconds } from './service.mjs';

export const PGBENCH = [
  process.env.PGBENCH,
  '/usr/bin/pgbench',
  '/usr/lib/postgresql/17/bin/pgbench',
  '/usr/lib/postgresql/16/bin/pgbench',
  '/usr/lib/postgresql/15/bin/pgbench',
].find((p) => p && existsSync(p));

/** `pgbench (PostgreSQL) 15.x`, or null without pgbench. */
export const pgbenchVersion = () =>
  PGBENCH ? spawnSync(PGBENCH, ['--version'], { encoding: 'utf8' }).stdout.trim() : null;

/**
 * The event the service writes with each transfer (the outbox, issue 15): the transaction in its API form,
 * about the same size as the service's.
 */
const EVENT_JSON = (tx, src, dst) =>
  `jsonb_build_object('id', ${tx}, 'type', 'TRANSFER', 'status', 'COMPLETED', 'sourceWalletId', ${src},
     'destinationWalletId', ${dst}, 'amount', '0.0100', 'heldAmount', null, 'currency', 'USD',
     'description', null, 'reference', null, 'failureReason', null, 'holdExpiresAt', null,
     'createdAt', now(), 'completedAt', now(), 'metadata', '{}'::jsonb, 'refundedAmount', '0.0000',
     'originalTransactionId', null)`;

/**
 * One transfer per transaction, as the service's write does it: the two wallets updated in id order
 * (balance -/+ 0.01, version + 1, updated_at), the transaction row, its two ledger entries with the
 * balances the UPDATEs returned, and its event. The service also reads the state first and stores the idempotency
 * record in the same statement; this script does neither, so it is a limit, not a twin.
 */
export function perRequestScript(d) {
  return `${pgbenchPair(d).join('\n')}
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
\\set dlo CASE WHEN :lo = :a THEN -1 ELSE 1 END
BEGIN;
UPDATE wallets SET balance = balance + :dlo * 0.01, version = version + 1, updated_at = now()
 WHERE id = (SELECT id FROM bench_wallets WHERE n = :lo) RETURNING balance AS lo_balance
\\gset
UPDATE wallets SET balance = balance - :dlo * 0.01, version = version + 1, updated_at = now()
 WHERE id = (SELECT id FROM bench_wallets WHERE n = :hi) RETURNING balance AS hi_balance
\\gset
INSERT INTO transactions (type, status, source_wallet_id, destination_wallet_id, amount, currency, initiated_by, completed_at)
 SELECT 'TRANSFER', 'COMPLETED', s.id, r.id, 0.01, 'USD', s.user_id, now()
   FROM bench_wallets s, bench_wallets r WHERE s.n = :a AND r.n = :b
 RETURNING id AS tx, source_wallet_id AS src, destination_wallet_id AS dst
\\gset
INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after) VALUES
 (:src, :tx, -0.01, CASE WHEN :dlo = -1 THEN :lo_balance::numeric ELSE :hi_balance::numeric END),
 (:dst, :tx, 0.01, CASE WHEN :dlo = -1 THEN :hi_balance::numeric ELSE :lo_balance::numeric END);
INSERT INTO events (id, type, wallet_ids, user_ids, data, commit_order)
 SELECT gen_random_uuid(), 'transaction.completed', ARRAY[:src::uuid, :dst::uuid], ARRAY[s.user_id, r.user_id],
        jsonb_build_object('transaction', ${EVENT_JSON(':tx::uuid', ':src::uuid', ':dst::uuid')}),
        nextval('event_commit_order')
   FROM bench_wallets s, bench_wallets r WHERE s.n = :a AND r.n = :b;
END;
`;
}

/**
 * `perStatement` transfers as ONE statement: the wallets locked in id order and updated once each by
 * their net delta, one INSERT of the transactions, one of the ledger entries with running balances (the
 * balance before the statement plus the entries so far, in transfer order), as the service's combined
 * write does.
 */
export function setBasedScript(d, perStatement = 10) {
  const sets = Array.from({ length: perStatement }, (_, i) => pgbenchPair(d, String(i + 1)).join('\n'));
  const values = Array.from(
    { length: perStatement },
    (_, i) => `(${i + 1}, :a${i + 1}::int, :b${i + 1}::int)`,
  ).join(', ');
  return `${sets.join('\n')}
WITH p(i, a, b) AS (VALUES ${values}),
 t AS MATERIALIZED (SELECT p.i, gen_random_uuid() AS id, s.id AS src, s.user_id AS initiator, r.id AS dst,
               r.user_id AS receiver
        FROM p JOIN bench_wallets s ON s.n = p.a JOIN bench_wallets r ON r.n = p.b),
 e AS (SELECT i, id AS tx, src AS wallet, -0.01::numeric AS amount FROM t
       UNION ALL SELECT i, id, dst, 0.01 FROM t),
 net AS (SELECT wallet AS id, sum(amount) AS delta FROM e GROUP BY wallet),
 lk AS MATERIALIZED (SELECT w.id FROM wallets w WHERE w.id IN (SELECT id FROM net) ORDER BY w.id FOR NO KEY UPDATE),
 upd AS (UPDATE wallets w SET balance = w.balance + net.delta, version = w.version + 1, updated_at = now()
           FROM lk JOIN net ON net.id = lk.id WHERE w.id = lk.id
         RETURNING w.id, w.balance - net.delta AS before),
 ti AS (INSERT INTO transactions (id, type, status, source_wallet_id, destination_wallet_id, amount, currency, initiated_by, completed_at)
        SELECT id, 'TRANSFER', 'COMPLETED', src, dst, 0.01, 'USD', initiator, now() FROM t),
 ev AS (INSERT INTO events (id, type, wallet_ids, user_ids, data, commit_order, ordinal)
        SELECT gen_random_uuid(), 'transaction.completed', ARRAY[src, dst], ARRAY[initiator, receiver],
               jsonb_build_object('transaction', ${EVENT_JSON('t.id', 't.src', 't.dst')}), o.n, t.i
          FROM t, (SELECT nextval('event_commit_order') AS n) o)
INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after)
SELECT e.wallet, e.tx, e.amount, upd.before + sum(e.amount) OVER (PARTITION BY e.wallet ORDER BY e.i)
  FROM e JOIN upd ON upd.id = e.wallet;
`;
}

/**
 * Runs a pgbench script file (prepared protocol, -j 2) for `seconds` and returns transfers/s
 * (transactions/s times transfers per transaction), its latency average and PostgreSQL's CPU per transfer.
 */
export async function runPgbench(
  db,
  { name, script, clients, seconds, transfersPerTransaction = 1, postgresCpu },
) {
  mkdirSync('.bench', { recursive: true });
  const file = `.bench/pgbench-${name}.sql`;
  writeFileSync(file, script);
  const pg0 = postgresCpu();
  const client0 = reapedChildrenCpuSeconds();
  // Not spawnSync: the sampler of an external server's backends (service.mjs) runs meanwhile.
  const r = await run(
    PGBENCH,
    [
      '-n',
      '--protocol=prepared',
      '-c',
      String(clients),
      '-j',
      '2',
      '-T',
      String(seconds),
      '-f',
      file,
      '-h',
      db.host,
      '-p',
      String(db.port),
      '-U',
      db.user,
      db.database,
    ],
    { ...process.env, PGPASSWORD: db.password },
  );
  const pgSeconds = pg0 === null ? null : postgresCpu() - pg0;
  const clientSeconds = reapedChildrenCpuSeconds() - client0;
  const number = (re) => Number(re.exec(r.stdout)?.[1] ?? NaN);
  const processed = number(/number of transactions actually processed: (\d+)/);
  const transfers = processed * transfersPerTransaction;
  const aborted = (r.stderr.match(/aborted/g) ?? []).length;
  if (r.status !== 0 && !processed) throw new Error(`pgbench ${name} failed:\n${r.stderr}`);
  return {
    name,
    clients,
    transfersPerSecond: Math.round(number(/tps = ([\d.]+)/) * transfersPerTransaction),
    latencyAverageMs: number(/latency average = ([\d.]+) ms/),
    failed: number(/number of failed transactions: (\d+)/) || 0,
    abortedClients: aborted,
    postgresCpuMsPerTransfer:
      pgSeconds === null || !transfers ? null : +((pgSeconds * 1000) / transfers).toFixed(3),
    pgbenchCpuMsPerTransfer: transfers ? +((clientSeconds * 1000) / transfers).toFixed(3) : null,
    stderr: aborted ? r.stderr.split('\n').slice(0, 3).join(' | ') : undefined,
  };
}

/** A child process to its end: its exit status, stdout and stderr. */
function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const pct = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;

/** The per-request transfer from node-pg: a pool of 16, `workers` concurrent loops, for `seconds`. */
export async function nodePgBaseline(db, users, d, { workers, seconds, postgresCpu }) {
  const pool = new pg.Pool({ ...db, max: 16 });
  const gen0 = process.cpuUsage();
  const pg0 = postgresCpu();
  const latencies = [];
  let ok = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < deadline) {
        const [na, nb] = samplePair(d);
        const [a, b] = [users[na - 1], users[nb - 1]];
        const started = performance.now();
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          const [first, second] = a.wallet < b.wallet ? [a, b] : [b, a];
          const balance = {};
          for (const w of [first, second]) {
            const r = await c.query(
              w === a
                ? `UPDATE wallets SET balance = balance - 0.01, version = version + 1, updated_at = now() WHERE id = $1 AND balance - held >= 0.01 RETURNING balance`
                : `UPDATE wallets SET balance = balance + 0.01, version = version + 1, updated_at = now() WHERE id = $1 RETURNING balance`,
              [w.wallet],
            );
            if (r.rowCount !== 1) throw new Error('insufficient');
            balance[w.wallet] = r.rows[0].balance;
          }
          const t = await c.query(
            `INSERT INTO transactions (type, status, source_wallet_id, destination_wallet_id, amount, currency, initiated_by, completed_at)
             VALUES ('TRANSFER', 'COMPLETED', $1, $2, 0.01, 'USD', $3, now()) RETURNING id`,
            [a.wallet, b.wallet, a.id],
          );
          await c.query(
            `INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after) VALUES ($1, $3, -0.01, $4), ($2, $3, 0.01, $5)`,
            [a.wallet, b.wallet, t.rows[0].id, balance[a.wallet], balance[b.wallet]],
          );
          await c.query('COMMIT');
          ok += 1;
          latencies.push(performance.now() - started);
        } catch {
          await c.query('ROLLBACK');
        } finally {
          c.release();
        }
      }
    }),
  );
  await pool.end();
  latencies.sort((x, y) => x - y);
  const used = process.cpuUsage(gen0);
  const pgSeconds = pg0 === null ? null : postgresCpu() - pg0;
  return {
    transfersPerSecond: Math.round(ok / seconds),
    latencyMs: {
      p50: +pct(latencies, 50).toFixed(1),
      p99: +pct(latencies, 99).toFixed(1),
      max: +pct(latencies, 100).toFixed(1),
    },
    clientCpuMsPerTransfer: ok ? +((used.user + used.system) / 1000 / ok).toFixed(3) : null,
    postgresCpuMsPerTransfer: pgSeconds === null || !ok ? null : +((pgSeconds * 1000) / ok).toFixed(3),
  };
}
