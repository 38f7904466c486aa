import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { TestApp } from '../support/app';
import {
  type Cluster,
  type ClusterRequests,
  clusterRequests,
  countByStatus,
  startCluster,
} from '../support/cluster';
import { createUser, fundedUser, type TestUser } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';
import { explain, rowsRead } from '../support/query-plans';
import { readStatement } from '../../src/transfers/engine/read-statement';

const API = '/api/v1';

type Body = Record<string, unknown>;
interface Limit {
  window: string;
  maxAmount: string | null;
  maxCount: number | null;
  usedAmount: string | null;
  usedCount: number | null;
  windowStart: string | null;
  resetsAt: string | null;
}

/** Spending limits and overdraft (contract v1.2), on two instances sharing one database. */
describe('spending limits and overdraft', () => {
  let c: Cluster;
  let t: TestApp;
  let admin: TestUser;
  let post: ClusterRequests['post'];
  let transfer: ClusterRequests['transfer'];
  let wallet: ClusterRequests['wallet'];

  beforeAll(async () => {
    c = await startCluster(2);
    t = c.primary;
    ({ post, transfer, wallet } = clusterRequests(c));
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    try {
      await expectLedgerConsistent(t, admin);
    } finally {
      await c.close();
    }
  });

  const setLimits = (walletId: string, body: Body) =>
    request(t.server)
      .put(`${API}/admin/wallets/${walletId}/limits`)
      .auth(admin.token, { type: 'bearer' })
      .send(body);
  const myLimits = async (u: TestUser) =>
    (await request(t.server).get(`${API}/wallets/me/limits`).auth(u.token, { type: 'bearer' }).expect(200))
      .body as { walletId: string; currency: string; overdraftLimit: string; limits: Limit[] };
  const limitOf = async (u: TestUser, window: string) =>
    (await myLimits(u)).limits.find((l) => l.window === window);
  const pair = async (balance = '1000') => ({
    from: await fundedUser(t, admin, balance),
    to: await fundedUser(t, admin, '0'),
  });

  /** A refusal that moves nothing, recorded as FAILED with the code as its reason. */
  async function expectLimitRefusal(res: request.Response, window: string) {
    expect([res.status, res.body.code]).toEqual([422, 'LIMIT_EXCEEDED']);
    expect(res.body.limit).toMatchObject({ window });
    const { rows } = await t.sql.query<{ status: string; failure_reason: string }>(
      'SELECT status, failure_reason FROM transactions WHERE id = $1',
      [res.body.transactionId],
    );
    expect(rows).toEqual([{ status: 'FAILED', failure_reason: 'LIMIT_EXCEEDED' }]);
  }

  it('refuses malformed limit sets with 400 and an unknown wallet with 404, changing nothing', async () => {
    const { wallet: w } = await fundedUser(t, admin, '10');
    const bad: Body[] = [
      { limits: [{ window: 'DAILY' }] },
      { limits: [{ window: 'HOURLY', maxAmount: '1' }] },
      { limits: [{ window: 'PER_TRANSACTION', maxCount: 3 }] },
      { limits: [{ window: 'DAILY', maxAmount: '-1' }] },
      { limits: [{ window: 'DAILY', maxAmount: '1.23456' }] },
      { limits: [{ window: 'DAILY', maxAmount: 5 }] },
      { limits: [{ window: 'DAILY', maxCount: 1.5 }] },
      { limits: [{ window: 'DAILY', maxCount: -1 }] },
      {
        limits: [
          { window: 'DAILY', maxCount: 1 },
          { window: 'DAILY', maxAmount: '2' },
        ],
      },
      { overdraftLimit: '-5', limits: [] },
      {},
    ];
    for (const body of bad) {
      const res = await setLimits(w.id, body);
      expect([JSON.stringify(body), res.status, res.body.code]).toEqual([
        JSON.stringify(body),
        400,
        'VALIDATION_FAILED',
      ]);
    }
    expect((await setLimits(randomUUID(), { limits: [] })).status).toBe(404);
    const user = await createUser(t);
    const res = await request(t.server)
      .put(`${API}/admin/wallets/${w.id}/limits`)
      .auth(user.token, { type: 'bearer' })
      .send({ limits: [] });
    expect(res.status).toBe(403);
  });

  it('shows the set with its usage and windows to the holder and to admins; PUT replaces the whole set', async () => {
    const { from, to } = await pair();
    await transfer(0, from.user, to.wallet, '30').expect(201);
    const set = await setLimits(from.wallet.id, {
      overdraftLimit: '25',
      limits: [
        { window: 'MONTHLY', maxCount: 100 },
        { window: 'DAILY', maxAmount: '500', maxCount: 10 },
        { window: 'PER_TRANSACTION', maxAmount: '200' },
      ],
    }).expect(200);
    const now = new Date();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    expect(set.body).toEqual({
      walletId: from.wallet.id,
      currency: 'USD',
      overdraftLimit: '25.0000',
      limits: [
        {
          window: 'PER_TRANSACTION',
          maxAmount: '200.0000',
          maxCount: null,
          usedAmount: null,
          usedCount: null,
          windowStart: null,
          resetsAt: null,
        },
        {
          window: 'DAILY',
          maxAmount: '500.0000',
          maxCount: 10,
          usedAmount: '30.0000',
          usedCount: 1,
          windowStart: dayStart.toISOString(),
          resetsAt: new Date(dayStart.getTime() + 86_400_000).toISOString(),
        },
        expect.objectContaining({
          window: 'MONTHLY',
          maxAmount: null,
          maxCount: 100,
          usedAmount: '30.0000',
          usedCount: 1,
        }),
      ],
    });
    expect(await myLimits(from.user)).toEqual(set.body);
    const viaAdmin = await request(t.server)
      .get(`${API}/admin/wallets/${from.wallet.id}/limits`)
      .auth(admin.token, { type: 'bearer' })
      .expect(200);
    expect(viaAdmin.body).toEqual(set.body);
    expect((await wallet(from.user)).availableBalance).toBe('995.0000');
    // Overdraft left out keeps its value; an empty list removes every limit.
    const cleared = await setLimits(from.wallet.id, { limits: [] }).expect(200);
    expect(cleared.body).toMatchObject({ overdraftLimit: '25.0000', limits: [] });
  });

  it('refuses a transfer past a daily amount, recorded FAILED, with the limit as it stood', async () => {
    const { from, to } = await pair();
    await transfer(0, from.user, to.wallet, '60').expect(201);
    await setLimits(from.wallet.id, { limits: [{ window: 'DAILY', maxAmount: '100' }] }).expect(200);
    await transfer(1, from.user, to.wallet, '40').expect(201);
    const before = await balancesSnapshot(t);
    const res = await transfer(0, from.user, to.wallet, '0.0001');
    await expectLimitRefusal(res, 'DAILY');
    expect(res.body.limit).toEqual({
      window: 'DAILY',
      maxAmount: '100.0000',
      maxCount: null,
      usedAmount: '100.0000',
      usedCount: 2,
      resetsAt: (await limitOf(from.user, 'DAILY'))?.resetsAt,
    });
    const after = await balancesSnapshot(t);
    expect({ ...after, ledgerEntries: null }).toEqual({ ...before, ledgerEntries: null });
  });

  it('checks PER_TRANSACTION first, then DAILY, WEEKLY, MONTHLY; counts as well as amounts', async () => {
    const { from, to } = await pair();
    await setLimits(from.wallet.id, {
      limits: [
        { window: 'PER_TRANSACTION', maxAmount: '50' },
        { window: 'DAILY', maxCount: 2 },
        { window: 'WEEKLY', maxAmount: '70' },
        { window: 'MONTHLY', maxAmount: '0' },
      ],
    }).expect(200);
    await expectLimitRefusal(await transfer(0, from.user, to.wallet, '51'), 'PER_TRANSACTION');
    await expectLimitRefusal(await transfer(0, from.user, to.wallet, '10'), 'MONTHLY');
    await setLimits(from.wallet.id, {
      limits: [
        { window: 'PER_TRANSACTION', maxAmount: '50' },
        { window: 'DAILY', maxCount: 2 },
        { window: 'WEEKLY', maxAmount: '70' },
      ],
    }).expect(200);
    await transfer(1, from.user, to.wallet, '40').expect(201);
    await expectLimitRefusal(await transfer(0, from.user, to.wallet, '31'), 'WEEKLY');
    await transfer(1, from.user, to.wallet, '30').expect(201);
    await expectLimitRefusal(await transfer(0, from.user, to.wallet, '0.01'), 'DAILY');
  });

  it('counts withdrawals and holds (given back on void and the uncaptured part), never deposits or refunds', async () => {
    const { from, to } = await pair();
    await setLimits(from.wallet.id, { limits: [{ window: 'DAILY', maxAmount: '100', maxCount: 10 }] }).expect(
      200,
    );
    await post(0, from.user, '/wallets/me/withdrawals', { amount: '10', currency: 'USD' }).expect(201);
    const hold = (await transfer(1, from.user, to.wallet, '50', { hold: true }).expect(201)).body as Body;
    expect(await limitOf(from.user, 'DAILY')).toMatchObject({ usedAmount: '60.0000', usedCount: 2 });
    await post(0, to.user, `/transfers/${String(hold.id)}/capture`, { amount: '20' }).expect(200);
    expect(await limitOf(from.user, 'DAILY')).toMatchObject({ usedAmount: '30.0000', usedCount: 2 });
    const hold2 = (await transfer(1, from.user, to.wallet, '70', { hold: true }).expect(201)).body as Body;
    await expectLimitRefusal(await transfer(0, from.user, to.wallet, '1'), 'DAILY');
    await post(0, to.user, `/transfers/${String(hold2.id)}/void`, {}).expect(200);
    expect(await limitOf(from.user, 'DAILY')).toMatchObject({ usedAmount: '30.0000', usedCount: 2 });
    // A deposit and a refund back to the sender count nothing.
    const paid = (await transfer(1, from.user, to.wallet, '5').expect(201)).body as Body;
    await post(0, to.user, `/transfers/${String(paid.id)}/refunds`, {}).expect(201);
    await post(1, admin, `/admin/wallets/${from.wallet.id}/deposits`, {
      amount: '5',
      currency: 'USD',
    }).expect(201);
    expect(await limitOf(from.user, 'DAILY')).toMatchObject({ usedAmount: '35.0000', usedCount: 3 });
  });

  it('refuses an atomic batch whose item breaks a limit (earlier items counting), and records a plain batch item', async () => {
    const { from, to } = await pair();
    await setLimits(from.wallet.id, { limits: [{ window: 'DAILY', maxAmount: '100' }] }).expect(200);
    const items = ['40', '40', '40'].map((amount) => ({ toWalletId: to.wallet.id, amount, currency: 'USD' }));
    const atomic = await post(0, from.user, '/transfers/batch', { atomic: true, transfers: items });
    expect([atomic.status, atomic.body.code]).toEqual([422, 'BATCH_REFUSED']);
    expect(atomic.body.errors).toEqual([expect.objectContaining({ index: 2, code: 'LIMIT_EXCEEDED' })]);
    expect(await limitOf(from.user, 'DAILY')).toMatchObject({ usedAmount: '0.0000', usedCount: 0 });
    const plain = await post(1, from.user, '/transfers/batch', { atomic: false, transfers: items });
    const results = (plain.body as { items: Array<{ status: number }> }).items;
    expect(results.map((r) => r.status)).toEqual([201, 201, 422]);
    expect(await limitOf(from.user, 'DAILY')).toMatchObject({ usedAmount: '80.0000', usedCount: 2 });
  });

  it('admits exactly as many of 60 concurrent transfers on two instances as the limits allow', async () => {
    const { from, to } = await pair('10000');
    await setLimits(from.wallet.id, {
      limits: [{ window: 'DAILY', maxAmount: '170', maxCount: 100 }],
    }).expect(200);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => transfer(i, from.user, to.wallet, '10')),
    );
    expect(countByStatus(results)).toEqual({ 201: 17, 422: 43 });
    expect(results.filter((r) => r.status === 422).every((r) => r.body.code === 'LIMIT_EXCEEDED')).toBe(true);
    expect(await limitOf(from.user, 'DAILY')).toMatchObject({ usedAmount: '170.0000', usedCount: 17 });
    expect((await wallet(from.user)).balance).toBe('9830.0000');
  });

  it('lets the balance go down to minus the overdraft, and no further, by any path', async () => {
    const { from, to } = await pair('10');
    await setLimits(from.wallet.id, { overdraftLimit: '50', limits: [] }).expect(200);
    expect(await wallet(from.user)).toMatchObject({
      balance: '10.0000',
      availableBalance: '60.0000',
      overdraftLimit: '50.0000',
    });
    const r55 = await transfer(0, from.user, to.wallet, '55');
    expect(r55.status).toBe(201);
    expect(await wallet(from.user)).toMatchObject({ balance: '-45.0000', availableBalance: '5.0000' });
    const refused = await transfer(1, from.user, to.wallet, '5.0001');
    expect([refused.status, refused.body.code]).toEqual([422, 'INSUFFICIENT_FUNDS']);
    // Behind the service's back, the database refuses any balance below minus the overdraft.
    const sql = (text: string) =>
      t.sql.query(text, [from.wallet.id]).then(
        () => 'ok',
        (e: Error) => e.message,
      );
    expect(await sql('UPDATE wallets SET balance = balance - 5.0001 WHERE id = $1')).toMatch(
      /wallets_balance_overdraft/,
    );
    expect(await sql('UPDATE wallets SET held = held + 6 WHERE id = $1')).toMatch(
      /wallets_balance_overdraft/,
    );
    // Lowering the overdraft below what is owed is allowed; the wallet then cannot spend.
    await setLimits(from.wallet.id, { overdraftLimit: '0', limits: [] }).expect(200);
    expect(await wallet(from.user)).toMatchObject({ balance: '-45.0000', availableBalance: '-45.0000' });
    const none = await transfer(0, from.user, to.wallet, '0.0001');
    expect([none.status, none.body.code]).toEqual([422, 'INSUFFICIENT_FUNDS']);
    await setLimits(from.wallet.id, { overdraftLimit: '45', limits: [] }).expect(200);
  });

  it("keeps a wallet's current usage on its row: a year of past windows adds nothing to a transfer", async () => {
    const { from, to } = await pair();
    await setLimits(from.wallet.id, {
      limits: [
        { window: 'DAILY', maxAmount: '500' },
        { window: 'WEEKLY', maxAmount: '900' },
        { window: 'MONTHLY', maxCount: 100 },
      ],
    }).expect(200);
    await transfer(0, from.user, to.wallet, '7').expect(201);
    // A year of past windows, as a wallet that spends every day leaves them (nothing spent in them, so the
    // usage invariant still holds).
    await t.sql.query(
      `INSERT INTO wallet_limit_usage (wallet_id, period, period_start, used_amount, used_count)
       SELECT $1, p.period, date_trunc(p.unit, now(), 'UTC') - g * p.step, 0, 0
         FROM (VALUES ('DAILY', 'day', interval '1 day', 400), ('WEEKLY', 'week', interval '7 days', 60),
                      ('MONTHLY', 'month', interval '1 month', 15)) p(period, unit, step, n),
              generate_series(1, p.n) g`,
      [from.wallet.id],
    );
    // The engine's read of the two wallets, as a transfer makes it: the usage rows it touches, from the plan.
    const read = readStatement({
      keys: [],
      userIds: [from.user.id],
      walletIds: [to.wallet.id],
      transactionIds: [],
    });
    const usageRowsRead = rowsRead(
      await explain(t, { text: read.text, params: read.values }),
      'wallet_limit_usage',
    );
    // The current windows are read with the wallet's row: the stored (ended) windows are not touched.
    expect(usageRowsRead).toBe(0);
    expect((await limitOf(from.user, 'DAILY'))?.usedAmount).toBe('7.0000');
    // A transfer counts on the row too: no usage row is written.
    await transfer(1, from.user, to.wallet, '3').expect(201);
    const { rows } = await t.sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM wallet_limit_usage WHERE wallet_id = $1',
      [from.wallet.id],
    );
    expect(rows[0].n).toBe(400 + 60 + 15);
    expect((await limitOf(from.user, 'DAILY'))?.usedAmount).toBe('10.0000');
    expect((await limitOf(from.user, 'MONTHLY'))?.usedCount).toBe(2);
  });
  it("reads limits and monitors from the wallet's row, which the tables' triggers keep, whoever writes them", async () => {
    const { from, to } = await pair();
    await setLimits(from.wallet.id, { limits: [{ window: 'DAILY', maxAmount: '100' }] }).expect(200);
    await request(t.server)
      .post(`${API}/wallets/me/monitors`)
      .auth(from.user.token, { type: 'bearer' })
      .send({ field: 'balance', operator: 'lt', value: '1' })
      .expect(201);
    await transfer(0, from.user, to.wallet, '10').expect(201);
    // The engine's read touches neither table: both come with the wallet's row.
    const read = readStatement({
      keys: [],
      userIds: [from.user.id],
      walletIds: [to.wallet.id],
      transactionIds: [],
    });
    const plan = await explain(t, { text: read.text, params: read.values });
    expect([rowsRead(plan, 'wallet_limits'), rowsRead(plan, 'wallet_monitors')]).toEqual([0, 0]);
    // A limit lowered by SQL, behind the service's back, holds at the next transfer on either instance.
    await t.sql.query(`UPDATE wallet_limits SET max_amount = 12 WHERE wallet_id = $1 AND period = 'DAILY'`, [
      from.wallet.id,
    ]);
    const res = await transfer(1, from.user, to.wallet, '3');
    await expectLimitRefusal(res, 'DAILY');
    expect(res.body.limit).toMatchObject({ maxAmount: '12.0000', usedAmount: '10.0000' });
    // Removed (by the API, which also stops keeping the usage), it no longer does; and with the monitor
    // deleted by SQL, the row holds no rules.
    await setLimits(from.wallet.id, { limits: [] }).expect(200);
    await t.sql.query('DELETE FROM wallet_monitors WHERE wallet_id = $1', [from.wallet.id]);
    await transfer(0, from.user, to.wallet, '3').expect(201);
    const { rows } = await t.sql.query<{ rules: unknown }>('SELECT rules FROM wallets WHERE id = $1', [
      from.wallet.id,
    ]);
    expect(rows).toEqual([{ rules: null }]);
  });
});
