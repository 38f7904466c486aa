import request from 'supertest';
import type { TestApp } from './app';
import type { TestUser } from './factories';
import { MONEY_INVARIANTS } from '../../scripts/lib/invariants-sql.cjs';

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
  for (const { name, sql } of MONEY_INVARIANTS) expect({ [name]: await q(sql) }).toEqual({ [name]: [] });
  if (admin) {
    const rec = await request(t.server)
      .get('/api/v1/admin/reconciliation')
      .auth(admin.token, { type: 'bearer' })
      .expect(200);
    expect(rec.body).toMatchObject({ ok: true, walletMismatches: [] });
  }
}
