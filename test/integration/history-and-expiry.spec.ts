import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, deposit, fundedUser, type TestUser } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { Wallet } from '../../src/wallets/wallet.entity';
import { Money } from '../../src/common/money/money';
import { historyQuery } from '../../src/transfers/transactions.repository';

const API = '/api/v1';

describe('statements, hold expiry and the lost-update regression', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await startTestApp({ HOLD_MIN_EXPIRY_SECONDS: '1', HOLD_EXPIRY_INTERVAL_MS: '200' });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  const send = (u: TestUser, toWalletId: string, amount: string, extra: Record<string, unknown> = {}) =>
    request(t.server)
      .post(`${API}/transfers`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', randomUUID())
      .send({ toWalletId, amount, currency: 'USD', ...extra });
  const statement = (u: TestUser, query: Record<string, unknown> = {}) =>
    request(t.server).get(`${API}/wallets/me/transactions`).query(query).auth(u.token, { type: 'bearer' });

  it('answers 404 WALLET_NOT_FOUND without a wallet, and an empty page for a wallet with no history', async () => {
    const none = await createUser(t);
    const res = await statement(none).expect(404);
    expect(res.body.code).toBe('WALLET_NOT_FOUND');
    const empty = await fundedUser(t, admin, '0');
    const page = await statement(empty.user).expect(200);
    expect(page.body).toEqual({ items: [], nextCursor: null });
  });

  it('reads about `limit` rows for a statement page at any depth (the plan, not the clock)', async () => {
    const { user, wallet } = await fundedUser(t, admin, '0');
    const other = await fundedUser(t, admin, '1000');
    for (let i = 0; i < 3; i++) await send(other.user, wallet.id, '1'); // both sides in the statement
    const entries = 5000;
    await t.sql.query(
      `WITH d AS (INSERT INTO transactions (type, status, destination_wallet_id, amount, currency, completed_at)
                  SELECT 'DEPOSIT', 'COMPLETED', $1, 0.01, 'USD', now() FROM generate_series(1, $2) RETURNING id, seq)
       INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after)
       SELECT $1, id, 0.01, 3 + 0.01 * row_number() OVER (ORDER BY seq) FROM d`,
      [wallet.id, entries],
    );
    await t.sql.query(`UPDATE wallets SET balance = balance + $2 * 0.01 WHERE id = $1`, [wallet.id, entries]);
    await t.sql.query('ANALYZE');
    const { rows: bounds } = await t.sql.query<{ lo: string; hi: string }>(
      `SELECT min(seq)::text AS lo, max(seq)::text AS hi FROM transactions WHERE destination_wallet_id = $1`,
      [wallet.id],
    );
    type PlanNode = {
      'Actual Rows': number;
      'Actual Loops': number;
      Plans?: PlanNode[];
      'Node Type': string;
    };
    const rowsRead = (n: PlanNode): number =>
      (/Scan/.test(n['Node Type']) ? n['Actual Rows'] * n['Actual Loops'] : 0) +
      (n.Plans ?? []).reduce((sum, c) => sum + rowsRead(c), 0);
    for (const beforeSeq of [
      bounds[0].hi,
      String((BigInt(bounds[0].lo) + BigInt(bounds[0].hi)) / 2n),
      bounds[0].lo,
    ]) {
      const q = historyQuery({ userId: user.id, limit: 51, beforeSeq });
      const { rows } = await t.sql.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`,
        q.params,
      );
      expect(rowsRead(rows[0]['QUERY PLAN'][0].Plan)).toBeLessThan(51 * 4);
    }
    // And the page itself is right: newest first, running balance from the ledger.
    const page = await statement(user, { limit: 2 }).expect(200);
    expect(page.body.items.map((i: { balanceAfter: string }) => i.balanceAfter)).toEqual([
      '53.0000',
      '52.9900',
    ]);
  });

  it('pages a statement newest first, each item once, stable while new transactions arrive', async () => {
    const a = await fundedUser(t, admin, '100');
    const b = await fundedUser(t, admin, '0');
    for (let i = 1; i <= 44; i++) await send(a.user, b.wallet.id, '1');
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await statement(a.user, {
        limit: 10,
        ...(cursor ? { cursor } : {}),
      }).expect(200);
      seen.push(...res.body.items.map((i: { id: string }) => i.id));
      cursor = res.body.nextCursor;
      pages++;
      // New movements during paging land on top and never shift the pages still to come.
      await send(a.user, b.wallet.id, '0.5');
    } while (cursor && pages < 20);
    expect(pages).toBe(5);
    expect(seen).toHaveLength(45);
    expect(new Set(seen).size).toBe(45);
    const { rows } = await t.sql.query<{ id: string }>(
      `SELECT id FROM transactions WHERE source_wallet_id = $1 OR destination_wallet_id = $1 ORDER BY seq DESC`,
      [a.wallet.id],
    );
    const firstPageTime = rows.findIndex((r) => r.id === seen[0]);
    expect(rows.slice(firstPageTime, firstPageTime + 45).map((r) => r.id)).toEqual(seen);
  });

  it('gives each item its direction and the running balance after it', async () => {
    const a = await fundedUser(t, admin, '10');
    const b = await fundedUser(t, admin, '0');
    await send(a.user, b.wallet.id, '2.5');
    await send(b.user, a.wallet.id, '1');
    await send(a.user, b.wallet.id, '50');
    const res = await statement(a.user).expect(200);
    expect(
      res.body.items.map((i: Record<string, string>) => [i.type, i.status, i.direction, i.balanceAfter]),
    ).toEqual([
      ['TRANSFER', 'FAILED', 'DEBIT', null],
      ['TRANSFER', 'COMPLETED', 'CREDIT', '8.5000'],
      ['TRANSFER', 'COMPLETED', 'DEBIT', '7.5000'],
      ['DEPOSIT', 'COMPLETED', 'CREDIT', '10.0000'],
    ]);
  });

  it('filters by status, type, direction and date', async () => {
    const a = await fundedUser(t, admin, '10');
    const b = await fundedUser(t, admin, '0');
    await send(a.user, b.wallet.id, '1');
    await send(a.user, b.wallet.id, '100');
    const only = async (q: Record<string, string>) =>
      (await statement(a.user, q).expect(200)).body.items.map(
        (i: Record<string, string>) => `${i.type}/${i.status}/${i.direction}`,
      );
    expect(await only({ status: 'FAILED' })).toEqual(['TRANSFER/FAILED/DEBIT']);
    expect(await only({ type: 'DEPOSIT' })).toEqual(['DEPOSIT/COMPLETED/CREDIT']);
    expect(await only({ direction: 'DEBIT' })).toEqual(['TRANSFER/FAILED/DEBIT', 'TRANSFER/COMPLETED/DEBIT']);
    expect(await only({ direction: 'CREDIT', status: 'COMPLETED' })).toEqual(['DEPOSIT/COMPLETED/CREDIT']);
    expect(await only({ from: new Date(Date.now() + 60000).toISOString() })).toEqual([]);
    expect((await only({ to: new Date(Date.now() + 60000).toISOString() })).length).toBe(3);
  });

  it.each<[string, Record<string, unknown>]>([
    ['limit 0', { limit: 0 }],
    ['limit 101', { limit: 101 }],
    ['limit abc', { limit: 'abc' }],
    ['limit 1.5', { limit: '1.5' }],
    ['a cursor with foreign characters', { cursor: 'not-a-cursor!' }],
    ['a cursor this service did not issue', { cursor: Buffer.from('s:abc').toString('base64url') }],
    ['a huge cursor', { cursor: 'x'.repeat(5000) }],
    ['an unknown status', { status: 'DONE' }],
    ['an unknown direction', { direction: 'UP' }],
    ['a date that is not ISO 8601', { from: 'yesterday' }],
    ['an unknown parameter', { unknown: '1' }],
  ])('refuses %s with 400', async (_name, query) => {
    const a = await fundedUser(t, admin, '1');
    const res = await statement(a.user, query);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
  });

  it('expires a hold that is not captured in time, exactly once, and refuses a late capture', async () => {
    const a = await fundedUser(t, admin, '20');
    const b = await fundedUser(t, admin, '0');
    const hold = await send(a.user, b.wallet.id, '15', { hold: true, holdExpiresInSeconds: 1 });
    expect(hold.status).toBe(201);
    let status = 'PENDING';
    let body: Record<string, unknown> = {};
    for (let i = 0; i < 100 && status === 'PENDING'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      body = (
        await request(t.server).get(`${API}/transfers/${hold.body.id}`).auth(a.user.token, { type: 'bearer' })
      ).body;
      status = body.status as string;
    }
    expect(body).toMatchObject({ status: 'FAILED', failureReason: 'EXPIRED' });
    const w = await request(t.server).get(`${API}/wallets/me`).auth(a.user.token, { type: 'bearer' });
    expect(w.body).toMatchObject({ balance: '20.0000', availableBalance: '20.0000' });
    const late = await request(t.server)
      .post(`${API}/transfers/${hold.body.id}/capture`)
      .auth(b.user.token, { type: 'bearer' })
      .set('Idempotency-Key', randomUUID())
      .send({});
    expect([late.status, late.body.code]).toEqual([409, 'TRANSFER_NOT_PENDING']);
    const metrics = await request(t.server).get('/metrics');
    expect(metrics.text).toMatch(/holds_expired_total \d+/);
  });

  it('refuses a hold shorter than the configured minimum or an expiry without a hold', async () => {
    const a = await fundedUser(t, admin, '20');
    const b = await fundedUser(t, admin, '0');
    expect((await send(a.user, b.wallet.id, '1', { hold: true, holdExpiresInSeconds: 0 })).status).toBe(400);
    expect((await send(a.user, b.wallet.id, '1', { holdExpiresInSeconds: 100 })).status).toBe(400);
    expect((await send(a.user, b.wallet.id, '1', { hold: 'yes' })).status).toBe(400);
  });

  it('shows why the engine never uses findOne + save(): a naive transfer loses updates under concurrency', async () => {
    const target = await fundedUser(t, admin, '0');
    const ds = new DataSource({
      ...buildDataSourceOptions({
        ...t.db,
        poolSize: 20,
        connectTimeoutMs: 5000,
        statementTimeoutMs: 10000,
        lockTimeoutMs: 5000,
        idleInTransactionTimeoutMs: 10000,
        applicationName: 'naive',
        runMigrations: false,
      }),
      entities: [Wallet],
    });
    await ds.initialize();
    try {
      const repo = ds.getRepository(Wallet);
      // 20 concurrent naive credits of 1: read the wallet, add in memory, save() (no version check).
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const w = await repo.findOneByOrFail({ id: target.wallet.id });
          await new Promise((r) => setTimeout(r, 20));
          w.balance = w.balance.plus(Money.parse('1'));
          await repo.save(w);
        }),
      );
      const naive = await repo.findOneByOrFail({ id: target.wallet.id });
      expect(naive.balance.lt(Money.parse('20'))).toBe(true);
    } finally {
      await ds.destroy();
    }
    // Undo the damage (the naive writes left the wallet out of step with its empty ledger), then the same
    // 20 concurrent credits through the engine on another wallet: none lost.
    await t.sql.query(`UPDATE wallets SET balance = 0 WHERE id = $1`, [target.wallet.id]);
    const other = await fundedUser(t, admin, '0');
    await Promise.all(Array.from({ length: 20 }, () => deposit(t, admin, other.wallet.id, '1')));
    const w = await request(t.server).get(`${API}/wallets/me`).auth(other.user.token, { type: 'bearer' });
    expect(w.body.balance).toBe('20.0000');
  });
});
