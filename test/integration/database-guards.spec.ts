import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';

/** The database is the last line of defence: even SQL that bypasses the service cannot rewrite history. */
describe('database guards (constraints and append-only triggers)', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await t.close();
  });

  const refused = async (sql: string, params: unknown[] = []): Promise<string> => {
    const error = await t.sql.query(sql, params).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  };

  it('refuses UPDATE, DELETE and TRUNCATE of ledger entries', async () => {
    await fundedUser(t, admin, '10');
    expect(await refused(`UPDATE ledger_entries SET amount = 1000`)).toMatch(/append-only/);
    expect(await refused(`DELETE FROM ledger_entries`)).toMatch(/append-only/);
    expect(await refused(`TRUNCATE ledger_entries CASCADE`)).toMatch(/append-only/);
  });

  it('refuses any change to a settled transaction and deletion of any transaction', async () => {
    await fundedUser(t, admin, '10');
    const { rows } = await t.sql.query<{ id: string }>(
      `SELECT id FROM transactions WHERE status = 'COMPLETED' LIMIT 1`,
    );
    expect(await refused(`UPDATE transactions SET amount = 1 WHERE id = $1`, [rows[0].id])).toMatch(
      /settled/,
    );
    expect(
      await refused(`UPDATE transactions SET status = 'FAILED', failure_reason = 'X' WHERE id = $1`, [
        rows[0].id,
      ]),
    ).toMatch(/settled/);
    expect(await refused(`DELETE FROM transactions WHERE id = $1`, [rows[0].id])).toMatch(/append-only/);
  });

  it('lets a pending hold change only once, to COMPLETED or FAILED, never growing', async () => {
    const a = await fundedUser(t, admin, '10');
    const b = await fundedUser(t, admin, '0');
    const { rows } = await t.sql.query<{ id: string }>(
      `INSERT INTO transactions (type, status, source_wallet_id, destination_wallet_id, amount, held_amount, currency, hold_expires_at)
       VALUES ('TRANSFER', 'PENDING', $1, $2, 5, 5, 'USD', now() + interval '1 hour') RETURNING id`,
      [a.wallet.id, b.wallet.id],
    );
    const id = rows[0].id;
    expect(await refused(`UPDATE transactions SET status = 'PENDING' WHERE id = $1`, [id])).toMatch(
      /only become COMPLETED or FAILED/,
    );
    expect(
      await refused(
        `UPDATE transactions SET status = 'COMPLETED', amount = 6, completed_at = now() WHERE id = $1`,
        [id],
      ),
    ).toMatch(/only status/);
    expect(
      await refused(
        `UPDATE transactions SET status = 'FAILED', failure_reason = 'VOIDED', currency = 'EUR' WHERE id = $1`,
        [id],
      ),
    ).toMatch(/only status/);
    await t.sql.query(
      `UPDATE transactions SET status = 'FAILED', failure_reason = 'VOIDED', completed_at = now() WHERE id = $1`,
      [id],
    );
    expect(
      await refused(`UPDATE transactions SET status = 'COMPLETED', failure_reason = NULL WHERE id = $1`, [
        id,
      ]),
    ).toMatch(/settled/);
  });

  it('refuses balances past the overdraft, NaN and over-held balances and non-positive or NaN amounts', async () => {
    const a = await fundedUser(t, admin, '10');
    expect(await refused(`UPDATE wallets SET balance = -1 WHERE id = $1`, [a.wallet.id])).toMatch(
      /wallets_balance_overdraft/,
    );
    expect(await refused(`UPDATE wallets SET balance = 'NaN' WHERE id = $1`, [a.wallet.id])).toMatch(
      /wallets_balance_valid|wallets_held_valid/,
    );
    expect(await refused(`UPDATE wallets SET held = 11 WHERE id = $1`, [a.wallet.id])).toMatch(
      /wallets_balance_overdraft/,
    );
    for (const amount of ['0', '-1', 'NaN']) {
      expect(
        await refused(
          `INSERT INTO transactions (type, status, destination_wallet_id, amount, currency, completed_at)
           VALUES ('DEPOSIT', 'COMPLETED', $1, $2::numeric, 'USD', now())`,
          [a.wallet.id, amount],
        ),
      ).toMatch(/check constraint/);
    }
  });

  it("works as a role that cannot rewrite history: the service's own connections get 42501", async () => {
    await fundedUser(t, admin, '10');
    const service = t.app.get(DataSource);
    const [{ user }] = await service.query<Array<{ user: string }>>(`SELECT current_user AS "user"`);
    expect(user).toBe('hfts_app');
    const denied = async (sql: string): Promise<void> => {
      const error = await service.query(sql).then(
        () => undefined,
        (e: Error & { driverError?: { code?: string } }) => e,
      );
      expect(error?.driverError?.code).toBe('42501'); // insufficient_privilege, before any trigger runs
    };
    await denied(`UPDATE ledger_entries SET amount = 1000`);
    await denied(`DELETE FROM ledger_entries`);
    await denied(`TRUNCATE ledger_entries CASCADE`);
    await denied(`DELETE FROM transactions`);
    await denied(`TRUNCATE transactions CASCADE`);
    await denied(`UPDATE transactions SET destination_wallet_id = source_wallet_id`);
    await denied(`UPDATE transactions SET currency = 'EUR'`);
    await denied(`UPDATE idempotency_keys SET status_code = 200`);
    await denied(`DELETE FROM idempotency_keys`);
    await denied(`DELETE FROM wallets`);
    await denied(`DELETE FROM users`);
    await denied(`DROP TABLE ledger_entries`);
  });

  it('falls back to the login role, and says so, when DB_APP_ROLE names a role it cannot use', async () => {
    const other = await startTestApp({ DB_APP_ROLE: 'hfts_no_such_role' });
    try {
      const [{ user }] = await other.app
        .get(DataSource)
        .query<Array<{ user: string }>>(`SELECT current_user AS "user"`);
      expect(user).not.toBe('hfts_no_such_role');
      expect(user).not.toBe('hfts_app');
    } finally {
      await other.close();
    }
  });
});
