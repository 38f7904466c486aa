import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { MetricsService } from '../../src/metrics/metrics.service';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

/** Batch sizes written so far: how many statements, and how many movements they carried. */
async function batches(t: TestApp): Promise<{ statements: number; movements: number }> {
  const metric = await t.app.get(MetricsService).batchSize.get();
  const value = (name: string) => metric.values.find((v) => v.metricName === name)?.value ?? 0;
  return { statements: value('transfer_batch_size_count'), movements: value('transfer_batch_size_sum') };
}

describe('the write combiner and the batch API (real PostgreSQL, over HTTP)', () => {
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await startTestApp({ USER_STATUS_CACHE_MS: '0' });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  const post = (u: TestUser, path: string, body: unknown, key: string = randomUUID()) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body as object);
  const balance = async (u: TestUser) =>
    (
      (await request(t.server).get(`${API}/wallets/me`).auth(u.token, { type: 'bearer' }).expect(200))
        .body as {
        balance: string;
      }
    ).balance;

  it('folds concurrent payments to one merchant into few statements, each with its own response', async () => {
    const merchant = await fundedUser(t, admin, '0');
    const payers = await Promise.all(Array.from({ length: 60 }, () => fundedUser(t, admin, '10')));
    const before = await batches(t);
    const results = await Promise.all(
      payers.map((p) =>
        post(p.user, '/transfers', { toWalletId: merchant.wallet.id, amount: '2.5', currency: 'USD' }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(payers.map(() => 201));
    expect(new Set(results.map((r) => r.body.id as string)).size).toBe(60);
    const after = await batches(t);
    expect(after.movements - before.movements).toBe(60);
    // Fewer statements than movements: at least one statement carried several payments.
    expect(after.statements - before.statements).toBeLessThan(60);
    expect(await balance(merchant.user)).toBe('150.0000');
    for (const p of payers.slice(0, 5)) expect(await balance(p.user)).toBe('7.5000');
    // Each payment has its own ledger entries with the merchant's running balance, all distinct.
    const { rows } = await t.sql.query<{ b: string }>(
      `SELECT balance_after::text AS b FROM ledger_entries WHERE wallet_id = $1 ORDER BY id`,
      [merchant.wallet.id],
    );
    expect(rows.map((r) => r.b)).toEqual(Array.from({ length: 60 }, (_, i) => (2.5 * (i + 1)).toFixed(4)));
    await expectLedgerConsistent(t, admin);
  });

  it('applies movements on one wallet in arrival order within a batch: refusals see earlier effects', async () => {
    const a = await fundedUser(t, admin, '10');
    const b = await fundedUser(t, admin, '0');
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        post(a.user, '/transfers', { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }),
      ),
    );
    const byStatus = results.reduce<Record<number, number>>(
      (m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }),
      {},
    );
    expect(byStatus).toEqual({ 201: 10, 422: 20 });
    for (const r of results.filter((x) => x.status === 422)) {
      const { rows } = await t.sql.query(`SELECT status, failure_reason FROM transactions WHERE id = $1`, [
        r.body.transactionId,
      ]);
      expect(rows).toEqual([{ status: 'FAILED', failure_reason: 'INSUFFICIENT_FUNDS' }]);
    }
    expect(await balance(a.user)).toBe('0.0000');
  });

  describe('POST /transfers/batch', () => {
    it('atomic: applies every item in order, one key for the whole batch, replayed byte for byte', async () => {
      const a = await fundedUser(t, admin, '100');
      const b = await fundedUser(t, admin, '0');
      const c = await fundedUser(t, admin, '0');
      const key = randomUUID();
      const body = {
        atomic: true,
        transfers: [
          { toWalletId: b.wallet.id, amount: '60', currency: 'USD', description: 'first' },
          { toWalletId: c.wallet.id.toUpperCase(), amount: '40', currency: 'USD' },
        ],
      };
      const res = await post(a.user, '/transfers/batch', body, key);
      expect(res.status).toBe(201);
      expect(res.body.items.map((i: { index: number; status: number }) => [i.index, i.status])).toEqual([
        [0, 201],
        [1, 201],
      ]);
      expect(res.body.items[0].transaction).toMatchObject({
        type: 'TRANSFER',
        status: 'COMPLETED',
        amount: '60.0000',
        description: 'first',
        destinationWalletId: b.wallet.id,
      });
      expect([await balance(a.user), await balance(b.user), await balance(c.user)]).toEqual([
        '0.0000',
        '60.0000',
        '40.0000',
      ]);
      const before = await balancesSnapshot(t);
      const again = await post(a.user, '/transfers/batch', body, key);
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.text).toBe(res.text);
      expect(await balancesSnapshot(t)).toEqual(before);
      const reused = await post(a.user, '/transfers/batch', { ...body, atomic: false }, key);
      expect([reused.status, reused.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    });

    it('atomic: one refused item and nothing moves, no FAILED record, each refusal named', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const failedBefore = await t.sql.query(
        `SELECT count(*)::int AS n FROM transactions WHERE status = 'FAILED'`,
      );
      const before = await balancesSnapshot(t);
      const key = randomUUID();
      const body = {
        atomic: true,
        transfers: [
          { toWalletId: b.wallet.id, amount: '30', currency: 'USD' },
          { toWalletId: b.wallet.id, amount: '30', currency: 'USD' },
          { toWalletId: a.wallet.id, amount: '1', currency: 'USD' },
          { toWalletId: randomUUID(), amount: '1', currency: 'USD' },
        ],
      };
      const res = await post(a.user, '/transfers/batch', body, key);
      expect([res.status, res.body.code]).toEqual([422, 'BATCH_REFUSED']);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.errors.map((e: { index: number; code: string }) => [e.index, e.code])).toEqual([
        [1, 'INSUFFICIENT_FUNDS'],
        [2, 'SAME_WALLET'],
        [3, 'WALLET_NOT_FOUND'],
      ]);
      expect(await balancesSnapshot(t)).toEqual(before);
      const failedAfter = await t.sql.query(
        `SELECT count(*)::int AS n FROM transactions WHERE status = 'FAILED'`,
      );
      expect(failedAfter.rows).toEqual(failedBefore.rows);
      // The refusal is kept with the key: after funds arrive the same request still moves nothing.
      await post(admin, `/admin/wallets/${a.wallet.id}/deposits`, { amount: '100', currency: 'USD' });
      const funded = await balancesSnapshot(t);
      const again = await post(a.user, '/transfers/batch', body, key);
      expect(again.status).toBe(422);
      expect(again.text).toBe(res.text);
      expect(await balancesSnapshot(t)).toEqual(funded);
    });

    it('not atomic: each item stands alone, in order, as its own POST /transfers would', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const res = await post(a.user, '/transfers/batch', {
        transfers: [
          { toWalletId: b.wallet.id, amount: '30', currency: 'USD' },
          { toWalletId: b.wallet.id, amount: '30', currency: 'USD' },
          { toWalletId: b.wallet.id, amount: '20', currency: 'USD' },
          { toWalletId: randomUUID(), amount: '1', currency: 'USD' },
          { toWalletId: b.wallet.id, amount: '1', currency: 'EUR' },
        ],
      });
      expect(res.status).toBe(200);
      const items = res.body.items as Array<{
        index: number;
        status: number;
        transaction?: { id: string };
        problem?: { code: string; transactionId?: string };
      }>;
      expect(items.map((i) => [i.index, i.status, i.problem?.code ?? null])).toEqual([
        [0, 201, null],
        [1, 422, 'INSUFFICIENT_FUNDS'],
        [2, 201, null],
        [3, 404, 'WALLET_NOT_FOUND'],
        [4, 422, 'CURRENCY_MISMATCH'],
      ]);
      const { rows } = await t.sql.query(`SELECT status, failure_reason FROM transactions WHERE id = $1`, [
        items[1].problem?.transactionId,
      ]);
      expect(rows).toEqual([{ status: 'FAILED', failure_reason: 'INSUFFICIENT_FUNDS' }]);
      expect([await balance(a.user), await balance(b.user)]).toEqual(['0.0000', '50.0000']);
    });

    it('validates the whole request: any malformed item is 400 with its path, and nothing moves', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const before = await balancesSnapshot(t);
      const item = { toWalletId: b.wallet.id, amount: '1', currency: 'USD' };
      const cases: Array<[unknown, string]> = [
        [{ transfers: [item, { ...item, amount: '1.00001' }] }, 'transfers[1].amount'],
        [{ transfers: [item, item, { ...item, toWalletId: 'nope' }] }, 'transfers[2].toWalletId'],
        [{ transfers: [{ ...item, hold: true }] }, 'transfers[0].hold'],
        [{ transfers: [] }, 'transfers'],
        [{ transfers: Array.from({ length: 101 }, () => item) }, 'transfers'],
        [{ transfers: [item], atomic: 'yes' }, 'atomic'],
        [{ transfers: 'all' }, 'transfers'],
      ];
      for (const [body, field] of cases) {
        const res = await post(a.user, '/transfers/batch', body);
        expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
      expect(await balancesSnapshot(t)).toEqual(before);
    });

    it('a batch of 100 is one statement', async () => {
      const a = await fundedUser(t, admin, '1000');
      const receivers = await Promise.all(Array.from({ length: 10 }, () => fundedUser(t, admin, '0')));
      const before = await batches(t);
      const res = await post(a.user, '/transfers/batch', {
        atomic: true,
        transfers: Array.from({ length: 100 }, (_, i) => ({
          toWalletId: receivers[i % 10].wallet.id,
          amount: '1.5',
          currency: 'USD',
        })),
      });
      expect(res.status).toBe(201);
      const after = await batches(t);
      expect([after.statements - before.statements, after.movements - before.movements]).toEqual([1, 100]);
      expect(await balance(a.user)).toBe('850.0000');
      expect(await balance(receivers[3].user)).toBe('15.0000');
      await expectLedgerConsistent(t, admin);
    });
  });
});
