import type { TestApp } from './app';

/**
 * `count` completed deposits of 0.01 to a wallet, written with SQL (as the history test seeds), each
 * `stepMs` after the previous one and ending `endMsAgo` before now; the wallet's balance is raised to
 * match, so the ledger stays consistent. `metadata(i)` tags the i-th (1-based) one, index row included.
 * Instants are whole milliseconds, as the engine writes them (a JS Date), so that a test can name one.
 */
export async function seedDeposits(
  t: TestApp,
  walletId: string,
  count: number,
  opts: { stepMs?: number; endMsAgo?: number; metadata?: (i: number) => Record<string, string> | null } = {},
): Promise<void> {
  const stepMs = opts.stepMs ?? 1000;
  const endMsAgo = opts.endMsAgo ?? 3_600_000;
  const metadata = Array.from({ length: count }, (_, i) => JSON.stringify(opts.metadata?.(i + 1) ?? {}));
  const { rows } = await t.sql.query<{ balance: string }>(`SELECT balance::text FROM wallets WHERE id = $1`, [
    walletId,
  ]);
  await t.sql.query(
    `WITH src AS (
       SELECT i, m::jsonb AS m,
              date_trunc('milliseconds', now() - make_interval(secs => ($3::int * ($2::int - i) + $4::int) / 1000.0)) AS at
         FROM unnest($5::text[]) WITH ORDINALITY AS x(m, i)),
     d AS (
       INSERT INTO transactions (type, status, destination_wallet_id, amount, currency, created_at, completed_at, metadata)
       SELECT 'DEPOSIT', 'COMPLETED', $1, 0.01, 'USD', at, at, m FROM src ORDER BY i
       RETURNING id, seq, created_at, metadata),
     md AS (
       INSERT INTO transaction_metadata (wallet_id, key, value, seq, transaction_id)
       SELECT $1, e.key, e.value, d.seq, d.id FROM d, jsonb_each_text(d.metadata) e)
     INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after, created_at)
     SELECT $1, id, 0.01, $6::numeric + 0.01 * row_number() OVER (ORDER BY seq), created_at FROM d`,
    [walletId, count, stepMs, endMsAgo, metadata, rows[0].balance],
  );
  await t.sql.query(`UPDATE wallets SET balance = balance + $2 * 0.01 WHERE id = $1`, [walletId, count]);
  await t.sql.query('ANALYZE');
}
