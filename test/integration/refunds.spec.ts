import { randomUUID } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { CONTENDED_MODES, countByStatus, startCluster } from '../support/cluster';
import { createUser, deposit, fundedUser, type TestUser, type TestWallet } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

type Tx = Record<string, unknown> & { id: string };

describe('refunds (POST /transfers/{id}/refunds)', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  const post = (u: TestUser, path: string, body: Record<string, unknown>, key: string = randomUUID()) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);
  const send = (u: TestUser, to: TestWallet, amount: string, extra: Record<string, unknown> = {}) =>
    post(u, '/transfers', { toWalletId: to.id, amount, currency: 'USD', ...extra });
  const refund = (u: TestUser, id: string, body: Record<string, unknown> = {}, key?: string) =>
    post(u, `/transfers/${id}/refunds`, body, key);
  const get = (u: TestUser, path: string) =>
    request(t.server).get(`${API}${path}`).auth(u.token, { type: 'bearer' });
  const wallet = async (u: TestUser) =>
    (await get(u, '/wallets/me').expect(200)).body as Record<string, string>;

  /** A completed transfer of `amount` from a fresh sender (holding `senderBalance`) to a fresh receiver. */
  async function paid(amount = '100', senderBalance = amount) {
    const sender = await fundedUser(t, admin, senderBalance);
    const receiver = await fundedUser(t, admin, '0');
    const transfer = (await send(sender.user, receiver.wallet, amount).expect(201)).body as Tx;
    return { sender, receiver, transfer };
  }

  /** Sends a request that must be refused with `status`/`code` and leave every balance byte-identical. */
  async function expectRefusal(req: () => Promise<request.Response>, status: number, code: string) {
    const before = await balancesSnapshot(t);
    const res = await req();
    expect([res.status, res.body.code]).toEqual([status, code]);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(await balancesSnapshot(t)).toEqual(before);
    return res;
  }

  it('refunds all of a transfer by default: a REFUND with its ledger entries, linked to the original', async () => {
    const { sender, receiver, transfer } = await paid('100');
    const res = await refund(receiver.user, transfer.id, { reason: 'Returned item' }).expect(201);
    expect(res.body).toMatchObject({
      type: 'REFUND',
      status: 'COMPLETED',
      sourceWalletId: receiver.wallet.id,
      destinationWalletId: sender.wallet.id,
      amount: '100.0000',
      currency: 'USD',
      description: 'Returned item',
      originalTransactionId: transfer.id,
      refundedAmount: '0.0000',
      metadata: {},
      failureReason: null,
    });
    const original = await get(sender.user, `/transfers/${transfer.id}`).expect(200);
    expect(original.body).toMatchObject({ refundedAmount: '100.0000', originalTransactionId: null });
    expect((await get(receiver.user, `/transfers/${transfer.id}`).expect(200)).body.refundedAmount).toBe(
      '100.0000',
    );
    const { rows: entries } = await t.sql.query(
      `SELECT wallet_id, amount::text, balance_after::text FROM ledger_entries WHERE transaction_id = $1
        ORDER BY amount`,
      [res.body.id],
    );
    expect(entries).toEqual([
      { wallet_id: receiver.wallet.id, amount: '-100.0000', balance_after: '0.0000' },
      { wallet_id: sender.wallet.id, amount: '100.0000', balance_after: '100.0000' },
    ]);
    expect((await wallet(sender.user)).balance).toBe('100.0000');
    expect((await wallet(receiver.user)).balance).toBe('0.0000');
    // Nothing is left to refund.
    await expectRefusal(() => refund(receiver.user, transfer.id), 422, 'REFUND_EXCEEDS_AMOUNT');
    await expectLedgerConsistent(t, admin);
  });

  it('appears in both statements, JSON and CSV: a DEBIT for the receiver, a CREDIT for the sender', async () => {
    const { sender, receiver, transfer } = await paid('40');
    const r = (await refund(receiver.user, transfer.id, { amount: '15' }).expect(201)).body as Tx;
    const top = async (u: TestUser) => (await get(u, '/wallets/me/transactions').expect(200)).body.items[0];
    expect(await top(receiver.user)).toMatchObject({
      id: r.id,
      type: 'REFUND',
      direction: 'DEBIT',
      amount: '15.0000',
      balanceAfter: '25.0000',
      originalTransactionId: transfer.id,
    });
    expect(await top(sender.user)).toMatchObject({
      id: r.id,
      type: 'REFUND',
      direction: 'CREDIT',
      balanceAfter: '15.0000',
    });
    const refunds = await request(t.server)
      .get(`${API}/wallets/me/transactions`)
      .query({ type: 'REFUND' })
      .auth(sender.user.token, { type: 'bearer' })
      .expect(200);
    expect(refunds.body.items.map((i: Tx) => i.id)).toEqual([r.id]);
    const csv = await request(t.server)
      .get(`${API}/wallets/me/transactions`)
      .set('Accept', 'text/csv')
      .auth(receiver.user.token, { type: 'bearer' })
      .expect(200);
    const rows = parse<Record<string, string>>(csv.text, { columns: true });
    expect(rows[0]).toMatchObject({
      id: r.id,
      type: 'REFUND',
      direction: 'DEBIT',
      amount: '15.0000',
      balanceAfter: '25.0000',
      originalTransactionId: transfer.id,
    });
    expect(rows[1]).toMatchObject({ id: transfer.id, refundedAmount: '15.0000', direction: 'CREDIT' });
    await expectLedgerConsistent(t, admin);
  });

  it('refunds partly, several times, never past the amount', async () => {
    const { sender, receiver, transfer } = await paid('100');
    await refund(receiver.user, transfer.id, { amount: '30' }).expect(201);
    expect((await get(sender.user, `/transfers/${transfer.id}`)).body.refundedAmount).toBe('30.0000');
    const over = await expectRefusal(
      () => refund(receiver.user, transfer.id, { amount: '70.0001' }),
      422,
      'REFUND_EXCEEDS_AMOUNT',
    );
    expect(over.body.detail).toMatch(/70\.0000/);
    const rest = await refund(receiver.user, transfer.id, { amount: '69.9999' }).expect(201);
    expect(rest.body.amount).toBe('69.9999');
    // The default is what is left, however small.
    const last = await refund(receiver.user, transfer.id).expect(201);
    expect(last.body.amount).toBe('0.0001');
    expect((await get(sender.user, `/transfers/${transfer.id}`)).body.refundedAmount).toBe('100.0000');
    await expectRefusal(
      () => refund(receiver.user, transfer.id, { amount: '0.0001' }),
      422,
      'REFUND_EXCEEDS_AMOUNT',
    );
    expect((await wallet(sender.user)).balance).toBe('100.0000');
  });

  it('lets an admin refund any transfer', async () => {
    const { sender, receiver, transfer } = await paid('20');
    const res = await refund(admin, transfer.id, { amount: '5', metadata: { ticket: 'SUP-7' } }).expect(201);
    expect(res.body).toMatchObject({
      type: 'REFUND',
      amount: '5.0000',
      sourceWalletId: receiver.wallet.id,
      destinationWalletId: sender.wallet.id,
      metadata: { ticket: 'SUP-7' },
    });
    expect((await wallet(receiver.user)).balance).toBe('15.0000');
    // An upper-case id names the same transfer.
    await refund(admin, transfer.id.toUpperCase(), { amount: '1' }).expect(201);
    expect((await get(admin, `/transfers/${transfer.id}`)).body.refundedAmount).toBe('6.0000');
  });

  it('refunds a captured hold up to what was captured', async () => {
    const sender = await fundedUser(t, admin, '50');
    const receiver = await fundedUser(t, admin, '0');
    const hold = (await send(sender.user, receiver.wallet, '40', { hold: true }).expect(201)).body as Tx;
    await post(receiver.user, `/transfers/${hold.id}/capture`, { amount: '25' }).expect(200);
    await expectRefusal(
      () => refund(receiver.user, hold.id, { amount: '25.0001' }),
      422,
      'REFUND_EXCEEDS_AMOUNT',
    );
    expect((await refund(receiver.user, hold.id).expect(201)).body.amount).toBe('25.0000');
    expect((await wallet(sender.user)).balance).toBe('50.0000');
  });

  it('refuses the sender with 403 FORBIDDEN and a stranger (or an unknown id) with 404', async () => {
    const { sender, transfer } = await paid('10');
    await expectRefusal(() => refund(sender.user, transfer.id), 403, 'FORBIDDEN');
    const stranger = await fundedUser(t, admin, '100');
    await expectRefusal(() => refund(stranger.user, transfer.id), 404, 'TRANSACTION_NOT_FOUND');
    await expectRefusal(() => refund(admin, randomUUID()), 404, 'TRANSACTION_NOT_FOUND');
    const noWallet = await createUser(t);
    await expectRefusal(() => refund(noWallet, transfer.id), 404, 'TRANSACTION_NOT_FOUND');
  });

  describe('409 TRANSFER_NOT_REFUNDABLE for anything but a COMPLETED transfer', () => {
    it('a PENDING hold', async () => {
      const sender = await fundedUser(t, admin, '50');
      const receiver = await fundedUser(t, admin, '0');
      const hold = (await send(sender.user, receiver.wallet, '10', { hold: true }).expect(201)).body as Tx;
      await expectRefusal(() => refund(receiver.user, hold.id), 409, 'TRANSFER_NOT_REFUNDABLE');
      await expectRefusal(() => refund(admin, hold.id), 409, 'TRANSFER_NOT_REFUNDABLE');
    });

    it('a voided hold', async () => {
      const sender = await fundedUser(t, admin, '50');
      const receiver = await fundedUser(t, admin, '0');
      const hold = (await send(sender.user, receiver.wallet, '10', { hold: true }).expect(201)).body as Tx;
      await post(receiver.user, `/transfers/${hold.id}/void`, {}).expect(200);
      await expectRefusal(() => refund(receiver.user, hold.id), 409, 'TRANSFER_NOT_REFUNDABLE');
    });

    it('a FAILED transfer', async () => {
      const sender = await fundedUser(t, admin, '5');
      const receiver = await fundedUser(t, admin, '100');
      const failed = await send(sender.user, receiver.wallet, '50').expect(422);
      const id = failed.body.transactionId as string;
      await expectRefusal(() => refund(receiver.user, id), 409, 'TRANSFER_NOT_REFUNDABLE');
      await expectRefusal(() => refund(admin, id), 409, 'TRANSFER_NOT_REFUNDABLE');
    });

    it('a deposit', async () => {
      const { user, wallet: w } = await fundedUser(t, admin, '0');
      const dep = await deposit(t, admin, w.id, '10');
      await expectRefusal(() => refund(admin, dep.id), 409, 'TRANSFER_NOT_REFUNDABLE');
      await expectRefusal(() => refund(user, dep.id), 409, 'TRANSFER_NOT_REFUNDABLE');
    });

    it('a refund', async () => {
      const { sender, receiver, transfer } = await paid('10');
      const r = (await refund(receiver.user, transfer.id, { amount: '4' }).expect(201)).body as Tx;
      // The REFUND's receiver is the original sender.
      await expectRefusal(() => refund(sender.user, r.id), 409, 'TRANSFER_NOT_REFUNDABLE');
      await expectRefusal(() => refund(admin, r.id), 409, 'TRANSFER_NOT_REFUNDABLE');
    });
  });

  it('needs the receiver’s available funds: 422 INSUFFICIENT_FUNDS, recorded as a FAILED REFUND', async () => {
    const { sender, receiver, transfer } = await paid('100');
    const elsewhere = await fundedUser(t, admin, '0');
    await send(receiver.user, elsewhere.wallet, '60').expect(201); // 40 left
    const res = await expectRefusal(
      () => refund(receiver.user, transfer.id, { amount: '50' }),
      422,
      'INSUFFICIENT_FUNDS',
    );
    const id = res.body.transactionId as string;
    expect(id).toEqual(expect.any(String));
    const { rows } = await t.sql.query(
      `SELECT type, status, failure_reason, original_transaction_id, source_wallet_id, destination_wallet_id,
              amount::text FROM transactions WHERE id = $1`,
      [id],
    );
    expect(rows).toEqual([
      {
        type: 'REFUND',
        status: 'FAILED',
        failure_reason: 'INSUFFICIENT_FUNDS',
        original_transaction_id: transfer.id,
        source_wallet_id: receiver.wallet.id,
        destination_wallet_id: sender.wallet.id,
        amount: '50.0000',
      },
    ]);
    expect((await get(sender.user, `/transfers/${transfer.id}`)).body.refundedAmount).toBe('0.0000');
    // Held funds are not available either: a hold of 30 leaves 10.
    await send(receiver.user, elsewhere.wallet, '30', { hold: true }).expect(201);
    await expectRefusal(
      () => refund(receiver.user, transfer.id, { amount: '11' }),
      422,
      'INSUFFICIENT_FUNDS',
    );
    await refund(receiver.user, transfer.id, { amount: '10' }).expect(201);
    // The FAILED refund shows in the receiver's statement, without a running balance.
    const failedItem = (await get(receiver.user, '/wallets/me/transactions?status=FAILED').expect(200)).body
      .items as Tx[];
    expect(failedItem.map((i) => [i.id, i.type, i.direction, i.balanceAfter])).toEqual([
      expect.anything(),
      [id, 'REFUND', 'DEBIT', null],
    ]);
    await expectLedgerConsistent(t, admin);
  });

  describe('idempotency', () => {
    it('replays a refund byte for byte, moving nothing, and refuses the key for another request', async () => {
      const { receiver, transfer } = await paid('100');
      const key = randomUUID();
      const first = await refund(receiver.user, transfer.id, { amount: '10' }, key).expect(201);
      const after = await balancesSnapshot(t);
      for (let i = 0; i < 3; i++) {
        const again = await refund(receiver.user, transfer.id, { amount: '10' }, key).expect(201);
        expect(again.headers['idempotent-replayed']).toBe('true');
        expect(again.text).toBe(first.text);
      }
      expect(await balancesSnapshot(t)).toEqual(after);
      const { rows } = await t.sql.query(
        `SELECT count(*)::int AS n FROM transactions WHERE original_transaction_id = $1`,
        [transfer.id],
      );
      expect(rows[0].n).toBe(1);
      await expectRefusal(
        () => refund(receiver.user, transfer.id, { amount: '11' }, key),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      await expectRefusal(
        () => refund(receiver.user, transfer.id, { amount: '10', metadata: { a: 'b' } }, key),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      await expectRefusal(
        () => refund(receiver.user, transfer.id, { amount: '10', reason: 'other' }, key),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      expect((await get(receiver.user, `/transfers/${transfer.id}`)).body.refundedAmount).toBe('10.0000');
    });

    it('replays a refusal byte for byte once the refund would pass', async () => {
      const { receiver, transfer } = await paid('100');
      const elsewhere = await fundedUser(t, admin, '0');
      await send(receiver.user, elsewhere.wallet, '100').expect(201);
      const key = randomUUID();
      const first = await refund(receiver.user, transfer.id, { amount: '10' }, key).expect(422);
      await send(elsewhere.user, receiver.wallet, '100').expect(201); // funds are back
      const after = await balancesSnapshot(t);
      const again = await refund(receiver.user, transfer.id, { amount: '10' }, key).expect(422);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.text).toBe(first.text);
      expect(await balancesSnapshot(t)).toEqual(after);
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a zero amount', { amount: '0' }, 'amount'],
    ['a negative amount', { amount: '-1' }, 'amount'],
    ['five decimals', { amount: '1.00001' }, 'amount'],
    ['a JSON number', { amount: 1 }, 'amount'],
    ['a null amount', { amount: null }, 'amount'],
    ['a reason of 501 characters', { reason: 'r'.repeat(501) }, 'reason'],
    ['a null reason', { reason: null }, 'reason'],
    ['metadata with a bad key', { metadata: { 'bad key': 'x' } }, 'metadata'],
    ['metadata that is an array', { metadata: ['x'] }, 'metadata'],
    ['an unknown field', { currency: 'USD' }, 'currency'],
  ])('refuses %s with 400 naming the field, before the database', async (_name, body, field) => {
    const { receiver, transfer } = await paid('10');
    const res = await expectRefusal(() => refund(receiver.user, transfer.id, body), 400, 'VALIDATION_FAILED');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('refuses a malformed id or a missing Idempotency-Key with 400', async () => {
    const { receiver, transfer } = await paid('10');
    await expectRefusal(() => refund(receiver.user, 'not-a-uuid'), 400, 'VALIDATION_FAILED');
    await expectRefusal(
      () =>
        request(t.server)
          .post(`${API}/transfers/${transfer.id}/refunds`)
          .auth(receiver.user.token, { type: 'bearer' })
          .send({}),
      400,
      'IDEMPOTENCY_KEY_MISSING',
    );
  });
});

/**
 * Racing refunds, decided by the database's guards in each mode the contended suites use: the default
 * (one instance, write combiner on), the queue off (optimistic retries only), and two instances on one
 * database taking turns.
 */
describe.each([
  { name: 'default settings', instances: 1, env: {} },
  {
    name: 'TRANSFER_QUEUE=false',
    instances: 1,
    env: CONTENDED_MODES.find((m) => m.name === 'queue off')?.env ?? { TRANSFER_QUEUE: 'false' },
  },
  { name: 'two instances', instances: 2, env: {} },
])('20 racing refunds of 10 of a 100 transfer ($name)', ({ instances, env }) => {
  it('give exactly 10 successes and 10 x 422 REFUND_EXCEEDS_AMOUNT', async () => {
    const c = await startCluster(instances, env);
    try {
      const t = c.primary;
      const admin = await createUser(t, { role: 'ADMIN' });
      const sender = await fundedUser(t, admin, '100');
      const receiver = await fundedUser(t, admin, '0');
      const transfer = await request(t.server)
        .post(`${API}/transfers`)
        .auth(sender.user.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send({ toWalletId: receiver.wallet.id, amount: '100', currency: 'USD' })
        .expect(201);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          request(c.pick(i).server)
            .post(`${API}/transfers/${transfer.body.id}/refunds`)
            .auth(receiver.user.token, { type: 'bearer' })
            .set('Idempotency-Key', randomUUID())
            .send({ amount: '10' }),
        ),
      );
      expect(countByStatus(results)).toEqual({ 201: 10, 422: 10 });
      expect(new Set(results.filter((r) => r.status === 422).map((r) => r.body.code))).toEqual(
        new Set(['REFUND_EXCEEDS_AMOUNT']),
      );
      const original = await request(t.server)
        .get(`${API}/transfers/${transfer.body.id}`)
        .auth(sender.user.token, { type: 'bearer' })
        .expect(200);
      expect(original.body.refundedAmount).toBe('100.0000');
      const { rows } = await t.sql.query(
        `SELECT status, count(*)::int AS n FROM transactions WHERE original_transaction_id = $1 GROUP BY status`,
        [transfer.body.id],
      );
      expect(rows).toEqual([{ status: 'COMPLETED', n: 10 }]);
      const balance = async (u: TestUser) =>
        (await request(t.server).get(`${API}/wallets/me`).auth(u.token, { type: 'bearer' }).expect(200)).body
          .balance;
      expect([await balance(sender.user), await balance(receiver.user)]).toEqual(['100.0000', '0.0000']);
      await expectLedgerConsistent(t, admin);
    } finally {
      await c.close();
    }
  });
});
