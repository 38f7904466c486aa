import request from 'supertest';
import type { TestApp } from './app';
import type { TestUser } from './factories';

/** Every wallet's balance, held amount and version, as text: compared byte for byte around refusals. */
export async function balancesSnapshot(t: TestApp): Promise<Record<string, string>> {
  const { rows } = await t.sql.query<{ id: string; s: string }>(
    `SELECT id, balance::text || '/' || held::text || '/' || version AS s FROM wallets ORDER BY id`,
  );
  const ledger = await t.sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM ledger_entries`);
  return { ...Object.fromEntries(rows.map((r) => [r.id, r.s])), ledgerEntries: ledger.rows[0].n };
}

/**
 * The money invariants, read straight from the tables: conserved per currency, never negative, every
 * balance equal to its ledger, held equal to the open holds, each completed movement with its entries.
 */
export async function expectLedgerConsistent(t: TestApp, admin?: TestUser): Promise<void> {
  const q = async (sql: string): Promise<Array<Record<string, string>>> => (await t.sql.query(sql)).rows;
  expect(
    await q(`SELECT c.currency FROM (SELECT DISTINCT currency FROM wallets) c
             WHERE (SELECT COALESCE(sum(balance), 0) FROM wallets WHERE currency = c.currency)
                <> (SELECT COALESCE(sum(CASE type WHEN 'DEPOSIT' THEN amount ELSE -amount END), 0) FROM transactions
                     WHERE currency = c.currency AND status = 'COMPLETED' AND type IN ('DEPOSIT', 'WITHDRAWAL'))`),
  ).toEqual([]);
  expect(
    await q(`SELECT id FROM wallets WHERE balance < 0 OR balance = 'NaN' OR held < 0 OR held > balance`),
  ).toEqual([]);
  expect(
    await q(`SELECT w.id FROM wallets w LEFT JOIN ledger_entries l ON l.wallet_id = w.id
             GROUP BY w.id, w.balance HAVING w.balance <> COALESCE(sum(l.amount), 0)`),
  ).toEqual([]);
  expect(
    await q(`SELECT w.id FROM wallets w LEFT JOIN transactions t ON t.source_wallet_id = w.id AND t.status = 'PENDING'
             GROUP BY w.id, w.held HAVING w.held <> COALESCE(sum(t.held_amount), 0)`),
  ).toEqual([]);
  expect(
    await q(`SELECT t.id FROM transactions t LEFT JOIN ledger_entries l ON l.transaction_id = t.id
             GROUP BY t.id, t.status, t.type
             HAVING count(l.id) <> CASE WHEN t.status <> 'COMPLETED' THEN 0 WHEN t.type = 'TRANSFER' THEN 2 ELSE 1 END`),
  ).toEqual([]);
  expect(
    await q(
      `SELECT transaction_id FROM ledger_entries GROUP BY transaction_id HAVING sum(amount) <> 0 AND count(*) = 2`,
    ),
  ).toEqual([]);
  if (admin) {
    const rec = await request(t.server)
      .get('/api/v1/admin/reconciliation')
      .auth(admin.token, { type: 'bearer' })
      .expect(200);
    expect(rec.body).toMatchObject({ ok: true, walletMismatches: [] });
  }
}
