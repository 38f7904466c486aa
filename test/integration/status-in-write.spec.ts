import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { TestApp } from '../support/app';
import { type Cluster, eventually, startCluster } from '../support/cluster';
import { createUser, fundedUser, type TestUser } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

/**
 * "Money never leaves a SUSPENDED or CLOSED account, and nobody whose account is not ACTIVE moves money,
 * from the moment the status change is answered, on every instance" (API.md, v1.1). Two instances on one
 * database, each caching user status for a minute: the status change goes through A, the money request
 * through B, whose cache still says ACTIVE. Only a check inside the write itself can refuse it.
 */
describe('account status is checked inside the money write, not only by a cached guard', () => {
  let c: Cluster;
  let a: TestApp;
  let b: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    c = await startCluster(2, {
      USER_STATUS_CACHE_MS: '60000',
      HOLD_MIN_EXPIRY_SECONDS: '1',
      HOLD_EXPIRY_INTERVAL_MS: '200',
    });
    [a, b] = c.instances;
    admin = await createUser(a, { role: 'ADMIN' });
  });
  afterAll(async () => {
    try {
      await expectLedgerConsistent(a, admin);
    } finally {
      await c.close();
    }
  });

  const post = (
    t: TestApp,
    u: TestUser,
    path: string,
    body: Record<string, unknown> = {},
    key = randomUUID(),
  ) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);
  /** A request through `t` as `u`: the guard on `t` now has `u`'s status (ACTIVE) cached. */
  const warm = async (t: TestApp, u: TestUser) =>
    request(t.server).get(`${API}/users/me`).auth(u.token, { type: 'bearer' }).expect(200);
  /** Through A: A answers, so the change has happened; B's cache does not know it. */
  const setStatus = async (u: TestUser, status: 'SUSPENDED' | 'CLOSED') => {
    await request(a.server)
      .patch(`${API}/admin/users/${u.id}/status`)
      .auth(admin.token, { type: 'bearer' })
      .send({ status })
      .expect(200);
    await request(a.server).get(`${API}/users/me`).auth(u.token, { type: 'bearer' }).expect(403);
  };
  const txRow = async (id: string) =>
    (
      await a.sql.query<{ status: string; failure_reason: string | null }>(
        `SELECT status, failure_reason FROM transactions WHERE id = $1`,
        [id],
      )
    ).rows[0];
  const newHold = async (amount: string, extra: Record<string, unknown> = {}) => {
    const sender = await fundedUser(a, admin, '100');
    const receiver = await fundedUser(a, admin, '0');
    const hold = await post(a, sender.user, '/transfers', {
      toWalletId: receiver.wallet.id,
      amount,
      currency: 'USD',
      hold: true,
      ...extra,
    });
    expect(hold.status).toBe(201);
    return { sender, receiver, holdId: hold.body.id as string };
  };
  const expectProblem = (res: request.Response, status: number, code: string) =>
    expect({ status: res.status, code: (res.body as { code?: string }).code }).toEqual({ status, code });

  it('refuses a deposit by an admin suspended on another instance (403 ACCOUNT_INACTIVE), moving nothing', async () => {
    const suspended = await createUser(a, { role: 'ADMIN' });
    const target = await fundedUser(a, admin, '10');
    await warm(b, suspended);
    await setStatus(suspended, 'SUSPENDED');
    const before = await balancesSnapshot(a);
    const res = await post(b, suspended, `/admin/wallets/${target.wallet.id}/deposits`, {
      amount: '1000',
      currency: 'USD',
    });
    expectProblem(res, 403, 'ACCOUNT_INACTIVE');
    expect(await balancesSnapshot(a)).toEqual(before);
  });

  it('refuses void and capture by a receiver suspended on another instance (403 ACCOUNT_INACTIVE); an admin can still void', async () => {
    const { sender, receiver, holdId } = await newHold('40');
    await warm(b, receiver.user);
    await setStatus(receiver.user, 'SUSPENDED');
    const before = await balancesSnapshot(a);
    expectProblem(await post(b, receiver.user, `/transfers/${holdId}/void`), 403, 'ACCOUNT_INACTIVE');
    expectProblem(await post(b, receiver.user, `/transfers/${holdId}/capture`), 403, 'ACCOUNT_INACTIVE');
    expect(await txRow(holdId)).toEqual({ status: 'PENDING', failure_reason: null });
    expect(await balancesSnapshot(a)).toEqual(before);

    const voided = await post(b, admin, `/transfers/${holdId}/void`);
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ status: 'FAILED', failureReason: 'VOIDED' });
    const wallets = await a.sql.query(`SELECT balance::text, held::text FROM wallets WHERE id = $1`, [
      sender.wallet.id,
    ]);
    expect(wallets.rows).toEqual([{ balance: '100.0000', held: '0.0000' }]);
  });

  it('refuses to capture a hold whose sender was closed (422 ACCOUNT_INACTIVE, stored and replayed); void still releases it', async () => {
    const { sender, receiver, holdId } = await newHold('40');
    await warm(b, receiver.user);
    await setStatus(sender.user, 'CLOSED');
    const before = await balancesSnapshot(a);
    const key = randomUUID();
    const refused = await post(b, receiver.user, `/transfers/${holdId}/capture`, {}, key);
    expectProblem(refused, 422, 'ACCOUNT_INACTIVE');
    expectProblem(
      await post(b, admin, `/transfers/${holdId}/capture`, { amount: '1' }),
      422,
      'ACCOUNT_INACTIVE',
    );
    expect(await txRow(holdId)).toEqual({ status: 'PENDING', failure_reason: null });
    expect(await balancesSnapshot(a)).toEqual(before);

    const replayed = await post(a, receiver.user, `/transfers/${holdId}/capture`, {}, key);
    expect(replayed.status).toBe(422);
    expect(replayed.text).toBe(refused.text);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(await balancesSnapshot(a)).toEqual(before);

    const voided = await post(b, receiver.user, `/transfers/${holdId}/void`);
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ status: 'FAILED', failureReason: 'VOIDED' });
    const wallets = await a.sql.query(`SELECT balance::text, held::text FROM wallets WHERE id = $1`, [
      sender.wallet.id,
    ]);
    expect(wallets.rows).toEqual([{ balance: '100.0000', held: '0.0000' }]);
  });

  it('still expires a hold whose sender was closed, releasing it', async () => {
    const { sender, holdId } = await newHold('25', { holdExpiresInSeconds: 1 });
    await setStatus(sender.user, 'CLOSED');
    const expired = await eventually(
      () => txRow(holdId),
      (row) => row.status !== 'PENDING',
      15000,
    );
    expect(expired).toEqual({ status: 'FAILED', failure_reason: 'EXPIRED' });
    const wallets = await a.sql.query(`SELECT balance::text, held::text FROM wallets WHERE id = $1`, [
      sender.wallet.id,
    ]);
    expect(wallets.rows).toEqual([{ balance: '100.0000', held: '0.0000' }]);
  });

  it('refuses a transfer by a sender suspended on another instance (422 ACCOUNT_INACTIVE, recorded FAILED)', async () => {
    const sender = await fundedUser(a, admin, '50');
    const receiver = await fundedUser(a, admin, '0');
    await warm(b, sender.user);
    await setStatus(sender.user, 'SUSPENDED');
    const before = await balancesSnapshot(a);
    const res = await post(b, sender.user, '/transfers', {
      toWalletId: receiver.wallet.id,
      amount: '10',
      currency: 'USD',
    });
    expectProblem(res, 422, 'ACCOUNT_INACTIVE');
    expect(await txRow(res.body.transactionId)).toEqual({
      status: 'FAILED',
      failure_reason: 'ACCOUNT_INACTIVE',
    });
    const after = await balancesSnapshot(a);
    // A FAILED record has no ledger entries and touches no wallet.
    expect(after).toEqual(before);
  });
});
