import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { MetricsService } from '../../src/metrics/metrics.service';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, createWallet, deposit, fundedUser, type TestUser } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

/**
 * Every attempt runs on the locked path (TRANSFER_LOCK_AFTER_ATTEMPTS=1: wallets locked in a transaction
 * first). A refusal there used to be written inside the transaction and then thrown inside it, which rolled
 * the write back: the 422 named a transaction that did not exist, the key was not stored, and the same key
 * sent again after funds arrived moved the money.
 */
describe('refusals on the locked path are stored and replayed for the life of the key', () => {
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    t = await startTestApp({
      USER_STATUS_CACHE_MS: '0',
      TRANSFER_QUEUE: 'false',
      TRANSFER_LOCK_AFTER_ATTEMPTS: '1',
      HOLD_MIN_EXPIRY_SECONDS: '60',
    });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  const post = (u: TestUser, path: string, body: Record<string, unknown>, key: string) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);

  async function lockedAttempts(): Promise<number> {
    const metric = await t.app.get(MetricsService).transferAttempts.get();
    return metric.values.filter((v) => v.labels.kind === 'locked').reduce((n, v) => n + v.value, 0);
  }

  /** Sends a refused request, then makes it acceptable, and checks the same key still replays the refusal. */
  async function expectStoredRefusal(
    send: () => Promise<request.Response>,
    code: string,
    makeAcceptable: () => Promise<void>,
  ): Promise<void> {
    const lockedBefore = await lockedAttempts();
    const before = await balancesSnapshot(t);
    const first = await send();
    expect({ status: first.status, code: (first.body as { code?: string }).code }).toEqual({
      status: 422,
      code,
    });
    expect(await balancesSnapshot(t)).toEqual(before);
    expect(await lockedAttempts()).toBeGreaterThan(lockedBefore);
    const txId = (first.body as { transactionId?: string }).transactionId;
    if (txId) {
      const { rows } = await t.sql.query(`SELECT status, failure_reason FROM transactions WHERE id = $1`, [
        txId,
      ]);
      expect(rows).toEqual([{ status: 'FAILED', failure_reason: code }]);
    }
    await makeAcceptable();
    const afterFix = await balancesSnapshot(t);
    const again = await send();
    expect(again.status).toBe(422);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);
    expect(await balancesSnapshot(t)).toEqual(afterFix);
  }

  it('INSUFFICIENT_FUNDS: the FAILED record exists and a retry after funds arrive moves nothing', async () => {
    const a = await fundedUser(t, admin, '5');
    const b = await fundedUser(t, admin, '0');
    const key = randomUUID();
    await expectStoredRefusal(
      () => post(a.user, '/transfers', { toWalletId: b.wallet.id, amount: '10', currency: 'USD' }, key),
      'INSUFFICIENT_FUNDS',
      async () => void (await deposit(t, admin, a.wallet.id, '100')),
    );
  });

  it('ACCOUNT_INACTIVE: a retry after the receiver is reactivated moves nothing', async () => {
    const a = await fundedUser(t, admin, '50');
    const b = await fundedUser(t, admin, '0');
    const setStatus = (status: string) =>
      request(t.server)
        .patch(`${API}/admin/users/${b.user.id}/status`)
        .auth(admin.token, { type: 'bearer' })
        .send({ status })
        .expect(200);
    await setStatus('SUSPENDED');
    const key = randomUUID();
    await expectStoredRefusal(
      () => post(a.user, '/transfers', { toWalletId: b.wallet.id, amount: '10', currency: 'USD' }, key),
      'ACCOUNT_INACTIVE',
      async () => void (await setStatus('ACTIVE')),
    );
  });

  it('CURRENCY_MISMATCH and SAME_WALLET are stored too', async () => {
    const a = await fundedUser(t, admin, '50');
    const eur = await createUser(t);
    const eurWallet = await createWallet(t, eur, 'EUR');
    const key = randomUUID();
    await expectStoredRefusal(
      () => post(a.user, '/transfers', { toWalletId: eurWallet.id, amount: '1', currency: 'USD' }, key),
      'CURRENCY_MISMATCH',
      async () => undefined,
    );
    const own = randomUUID();
    await expectStoredRefusal(
      () => post(a.user, '/transfers', { toWalletId: a.wallet.id, amount: '1', currency: 'USD' }, own),
      'SAME_WALLET',
      async () => undefined,
    );
  });

  it('BALANCE_LIMIT_EXCEEDED: a retry after the receiver spends moves nothing', async () => {
    const a = await fundedUser(t, admin, '10');
    const full = await fundedUser(t, admin, '99999999999999.9999');
    const other = await fundedUser(t, admin, '0');
    const key = randomUUID();
    await expectStoredRefusal(
      () => post(a.user, '/transfers', { toWalletId: full.wallet.id, amount: '1', currency: 'USD' }, key),
      'BALANCE_LIMIT_EXCEEDED',
      async () => {
        const spend = await post(
          full.user,
          '/transfers',
          { toWalletId: other.wallet.id, amount: '100', currency: 'USD' },
          randomUUID(),
        );
        expect(spend.status).toBe(201);
      },
    );
  });

  it('AMOUNT_EXCEEDS_HOLD: a retry with the same key after nothing changed replays the refusal', async () => {
    const a = await fundedUser(t, admin, '50');
    const b = await fundedUser(t, admin, '0');
    const hold = await post(
      a.user,
      '/transfers',
      { toWalletId: b.wallet.id, amount: '10', currency: 'USD', hold: true },
      randomUUID(),
    );
    expect(hold.status).toBe(201);
    const key = randomUUID();
    await expectStoredRefusal(
      () => post(b.user, `/transfers/${hold.body.id as string}/capture`, { amount: '11' }, key),
      'AMOUNT_EXCEEDS_HOLD',
      async () => undefined,
    );
    const { rows } = await t.sql.query(`SELECT status FROM transactions WHERE id = $1`, [hold.body.id]);
    expect(rows).toEqual([{ status: 'PENDING' }]);
  });
});
