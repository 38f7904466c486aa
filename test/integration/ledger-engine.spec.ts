import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, deposit, fundedUser, type TestUser } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

describe('wallets, transfers and the ledger (real PostgreSQL, over HTTP)', () => {
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

  const transfer = (from: TestUser, body: Record<string, unknown>, key: string = randomUUID()) =>
    request(t.server)
      .post(`${API}/transfers`)
      .auth(from.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);
  const wallet = async (u: TestUser) =>
    (await request(t.server).get(`${API}/wallets/me`).auth(u.token, { type: 'bearer' }).expect(200)).body as {
      id: string;
      balance: string;
      availableBalance: string;
      version: number;
    };

  /** Runs a refused request and checks that no balance, held amount, version or ledger line changed. */
  async function expectRefusedWithoutEffect(
    send: () => Promise<request.Response>,
    status: number,
    code: string,
  ) {
    const before = await balancesSnapshot(t);
    const res = await send();
    expect({ status: res.status, code: (res.body as { code?: string }).code }).toEqual({ status, code });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await balancesSnapshot(t)).toEqual(before);
    return res;
  }

  describe('wallets', () => {
    it('opens one wallet per user and reports it with balance and available balance', async () => {
      const u = await createUser(t);
      await request(t.server).get(`${API}/wallets/me`).auth(u.token, { type: 'bearer' }).expect(404);
      const created = await request(t.server)
        .post(`${API}/wallets`)
        .auth(u.token, { type: 'bearer' })
        .send({ currency: 'EUR' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        userId: u.id,
        currency: 'EUR',
        balance: '0.0000',
        availableBalance: '0.0000',
      });
      const again = await request(t.server)
        .post(`${API}/wallets`)
        .auth(u.token, { type: 'bearer' })
        .send({ currency: 'USD' });
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('WALLET_EXISTS');
    });

    it.each(['usd', 'ABC', 'XXX', 'US', '', 42, null])('refuses currency %p with 400', async (currency) => {
      const u = await createUser(t);
      const res = await request(t.server)
        .post(`${API}/wallets`)
        .auth(u.token, { type: 'bearer' })
        .send({ currency });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
    });

    it('refuses read-only fields when opening a wallet', async () => {
      const u = await createUser(t);
      for (const extra of [{ balance: '100' }, { version: 9 }, { userId: admin.id }]) {
        const res = await request(t.server)
          .post(`${API}/wallets`)
          .auth(u.token, { type: 'bearer' })
          .send({ currency: 'USD', ...extra });
        expect(res.status).toBe(400);
      }
      await request(t.server).get(`${API}/wallets/me`).auth(u.token, { type: 'bearer' }).expect(404);
    });
  });

  describe('transfers', () => {
    it('moves money atomically and writes both statements with running balances', async () => {
      const a = await fundedUser(t, admin, '100');
      const b = await fundedUser(t, admin, '5');
      const res = await transfer(a.user, {
        toWalletId: b.wallet.id,
        amount: '30.25',
        currency: 'USD',
        description: 'rent',
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        type: 'TRANSFER',
        status: 'COMPLETED',
        sourceWalletId: a.wallet.id,
        destinationWalletId: b.wallet.id,
        amount: '30.2500',
        currency: 'USD',
        description: 'rent',
        failureReason: null,
      });
      expect((await wallet(a.user)).balance).toBe('69.7500');
      expect((await wallet(b.user)).balance).toBe('35.2500');

      const statementA = await request(t.server)
        .get(`${API}/wallets/me/transactions`)
        .auth(a.user.token, { type: 'bearer' });
      expect(
        statementA.body.items.map((i: { direction: string; balanceAfter: string }) => [
          i.direction,
          i.balanceAfter,
        ]),
      ).toEqual([
        ['DEBIT', '69.7500'],
        ['CREDIT', '100.0000'],
      ]);
      const statementB = await request(t.server)
        .get(`${API}/wallets/me/transactions`)
        .auth(b.user.token, { type: 'bearer' });
      expect(statementB.body.items[0]).toMatchObject({
        id: res.body.id,
        direction: 'CREDIT',
        balanceAfter: '35.2500',
      });

      for (const viewer of [a.user, b.user, admin]) {
        await request(t.server)
          .get(`${API}/transfers/${res.body.id}`)
          .auth(viewer.token, { type: 'bearer' })
          .expect(200);
      }
      const stranger = await createUser(t);
      const hidden = await request(t.server)
        .get(`${API}/transfers/${res.body.id}`)
        .auth(stranger.token, { type: 'bearer' });
      expect(hidden.status).toBe(404);
      await request(t.server)
        .get(`${API}/transfers/not-a-uuid`)
        .auth(stranger.token, { type: 'bearer' })
        .expect(400);
    });

    it('accepts the boundary amounts of the contract', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      expect(
        (await transfer(a.user, { toWalletId: b.wallet.id, amount: '0.0001', currency: 'USD' })).status,
      ).toBe(201);
      expect((await transfer(a.user, { toWalletId: b.wallet.id, amount: '9', currency: 'USD' })).status).toBe(
        201,
      );
      const rich = await fundedUser(t, admin, '0');
      await deposit(t, admin, rich.wallet.id, '99999999999999.9999');
      expect((await wallet(rich.user)).balance).toBe('99999999999999.9999');
    });

    const badAmounts: unknown[] = [
      10,
      10.5,
      '-5',
      '0',
      '0.0000',
      '10.12345',
      '1e3',
      'NaN',
      'Infinity',
      ' 10',
      '10 ',
      '+10',
      '.5',
      '00010',
      '１０',
      '١٠',
      '123456789012345',
      null,
      [],
      {},
      true,
      '',
    ];
    it.each(badAmounts)('refuses amount %p with 400 and moves nothing', async (amount) => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const res = await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: b.wallet.id, amount, currency: 'USD' }),
        400,
        'VALIDATION_FAILED',
      );
      expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'amount' })]));
    });

    it('refuses each business rule with its code and changes nothing', async () => {
      const a = await fundedUser(t, admin, '20');
      const b = await fundedUser(t, admin, '0');
      const eur = await fundedUser(t, admin, '0', 'EUR');
      await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: a.wallet.id, amount: '1', currency: 'USD' }),
        422,
        'SAME_WALLET',
      );
      await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: eur.wallet.id, amount: '1', currency: 'USD' }),
        422,
        'CURRENCY_MISMATCH',
      );
      await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: b.wallet.id, amount: '1', currency: 'EUR' }),
        422,
        'CURRENCY_MISMATCH',
      );
      await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: randomUUID(), amount: '1', currency: 'USD' }),
        404,
        'WALLET_NOT_FOUND',
      );
      await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: 'nope', amount: '1', currency: 'USD' }),
        400,
        'VALIDATION_FAILED',
      );
      const broke = await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: b.wallet.id, amount: '20.0001', currency: 'USD' }),
        422,
        'INSUFFICIENT_FUNDS',
      );
      const failed = await request(t.server)
        .get(`${API}/transfers/${broke.body.transactionId}`)
        .auth(a.user.token, { type: 'bearer' });
      expect(failed.body).toMatchObject({
        status: 'FAILED',
        failureReason: 'INSUFFICIENT_FUNDS',
        amount: '20.0001',
      });

      const full = await fundedUser(t, admin, '99999999999999');
      await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: full.wallet.id, amount: '1', currency: 'USD' }),
        422,
        'BALANCE_LIMIT_EXCEEDED',
      );
      const noWallet = await createUser(t);
      await expectRefusedWithoutEffect(
        () => transfer(noWallet, { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }),
        404,
        'WALLET_NOT_FOUND',
      );
    });

    it('refuses a transfer to an inactive receiver and records it as FAILED', async () => {
      const a = await fundedUser(t, admin, '20');
      const b = await fundedUser(t, admin, '0');
      await request(t.server)
        .patch(`${API}/admin/users/${b.user.id}/status`)
        .auth(admin.token, { type: 'bearer' })
        .send({ status: 'SUSPENDED' })
        .expect(200);
      const res = await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }),
        422,
        'ACCOUNT_INACTIVE',
      );
      const { rows } = await t.sql.query(`SELECT status, failure_reason FROM transactions WHERE id = $1`, [
        res.body.transactionId,
      ]);
      expect(rows).toEqual([{ status: 'FAILED', failure_reason: 'ACCOUNT_INACTIVE' }]);
    });

    it('requires authentication and, for deposits, an admin', async () => {
      const a = await fundedUser(t, admin, '1');
      await request(t.server).post(`${API}/transfers`).send({}).expect(401);
      await expectRefusedWithoutEffect(
        () =>
          request(t.server)
            .post(`${API}/admin/wallets/${a.wallet.id}/deposits`)
            .auth(a.user.token, { type: 'bearer' })
            .set('Idempotency-Key', randomUUID())
            .send({ amount: '1', currency: 'USD' }),
        403,
        'FORBIDDEN',
      );
      await request(t.server)
        .get(`${API}/admin/reconciliation`)
        .auth(a.user.token, { type: 'bearer' })
        .expect(403);
    });

    it('withdraws from the own wallet and refuses overdrafts', async () => {
      const a = await fundedUser(t, admin, '10');
      const withdraw = (amount: string, key = randomUUID()) =>
        request(t.server)
          .post(`${API}/wallets/me/withdrawals`)
          .auth(a.user.token, { type: 'bearer' })
          .set('Idempotency-Key', key)
          .send({ amount, currency: 'USD', reference: 'atm' });
      const ok = await withdraw('4');
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({
        type: 'WITHDRAWAL',
        sourceWalletId: a.wallet.id,
        destinationWalletId: null,
        reference: 'atm',
      });
      await expectRefusedWithoutEffect(() => withdraw('6.0001'), 422, 'INSUFFICIENT_FUNDS');
      expect((await wallet(a.user)).balance).toBe('6.0000');
    });
  });

  describe('idempotency', () => {
    it('replays the first response for the same key and request, and moves money once', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const key = randomUUID();
      const body = { toWalletId: b.wallet.id, amount: '3', currency: 'USD' };
      const first = await transfer(a.user, body, key);
      const second = await transfer(a.user, body, key);
      expect(second.status).toBe(first.status);
      expect(second.body).toEqual(first.body);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      expect((await wallet(a.user)).balance).toBe('7.0000');

      await expectRefusedWithoutEffect(
        () => transfer(a.user, { ...body, amount: '4' }, key),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      );
      const refused = await transfer(a.user, { ...body, amount: '100' }, 'broke-key');
      const replayed = await transfer(a.user, { ...body, amount: '100' }, 'broke-key');
      expect(replayed.status).toBe(422);
      expect(replayed.body).toEqual(refused.body);
      expect(replayed.body.transactionId).toBe(refused.body.transactionId);
    });

    it('scopes keys per caller', async () => {
      const a = await fundedUser(t, admin, '10');
      const c = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const key = 'shared-key';
      expect(
        (await transfer(a.user, { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }, key)).status,
      ).toBe(201);
      expect(
        (await transfer(c.user, { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }, key)).status,
      ).toBe(201);
      expect((await wallet(b.user)).balance).toBe('2.0000');
    });

    it.each([
      [undefined, 'IDEMPOTENCY_KEY_MISSING'],
      ['', 'IDEMPOTENCY_KEY_INVALID'],
      ['x'.repeat(256), 'IDEMPOTENCY_KEY_INVALID'],
      ['tab\tkey', 'IDEMPOTENCY_KEY_INVALID'],
    ])('refuses Idempotency-Key %p with 400', async (key, code) => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      await expectRefusedWithoutEffect(
        () => {
          const req = request(t.server).post(`${API}/transfers`).auth(a.user.token, { type: 'bearer' });
          if (key !== undefined) void req.set('Idempotency-Key', key);
          return req.send({ toWalletId: b.wallet.id, amount: '1', currency: 'USD' });
        },
        400,
        code,
      );
    });

    it('applies concurrent duplicates exactly once', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const key = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          transfer(a.user, { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }, key),
        ),
      );
      const created = results.filter((r) => r.status === 201);
      expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
      for (const r of results) expect([201, 409]).toContain(r.status);
      for (const r of results.filter((x) => x.status === 409))
        expect(r.body.code).toBe('IDEMPOTENCY_IN_PROGRESS');
      expect((await wallet(b.user)).balance).toBe('1.0000');
    });
  });

  describe('concurrency', () => {
    it('200 concurrent debits of 1 from a wallet holding 50 give exactly 50 successes', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const results = await Promise.all(
        Array.from({ length: 200 }, () =>
          transfer(a.user, { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }),
        ),
      );
      const byStatus = results.reduce<Record<number, number>>(
        (m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }),
        {},
      );
      expect(byStatus).toEqual({ 201: 50, 422: 150 });
      expect((await wallet(a.user)).balance).toBe('0.0000');
      expect((await wallet(b.user)).balance).toBe('50.0000');
      await expectLedgerConsistent(t, admin);
    });

    it('200 A->B against 200 B->A surface no deadlock and conserve money', async () => {
      const a = await fundedUser(t, admin, '1000');
      const b = await fundedUser(t, admin, '1000');
      const results = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          i % 2 === 0
            ? transfer(a.user, { toWalletId: b.wallet.id, amount: '1', currency: 'USD' })
            : transfer(b.user, { toWalletId: a.wallet.id, amount: '2', currency: 'USD' }),
        ),
      );
      expect(results.filter((r) => r.status !== 201).map((r) => [r.status, r.body.code])).toEqual([]);
      expect((await wallet(a.user)).balance).toBe('1200.0000');
      expect((await wallet(b.user)).balance).toBe('800.0000');
      const ids = results.map((r) => r.body.id as string);
      const seen: string[] = [];
      for (let cursor: string | null = null, page = 0; page < 50; page++) {
        const res: request.Response = await request(t.server)
          .get(`${API}/wallets/me/transactions`)
          .query({ limit: 100, type: 'TRANSFER', ...(cursor ? { cursor } : {}) })
          .auth(a.user.token, { type: 'bearer' })
          .expect(200);
        seen.push(...res.body.items.map((i: { id: string }) => i.id));
        cursor = res.body.nextCursor;
        if (!cursor) break;
      }
      expect(seen.sort()).toEqual([...ids].sort());
      await expectLedgerConsistent(t, admin);
    });

    it('a ring A->B->C->A and 64 clients on 10 hot wallets keep every invariant', async () => {
      const ring = await Promise.all([0, 1, 2].map(() => fundedUser(t, admin, '100')));
      const ringResults = await Promise.all(
        Array.from({ length: 90 }, (_, i) =>
          transfer(ring[i % 3].user, {
            toWalletId: ring[(i + 1) % 3].wallet.id,
            amount: '1',
            currency: 'USD',
          }),
        ),
      );
      expect(ringResults.every((r) => r.status === 201)).toBe(true);
      for (const r of ring) expect((await wallet(r.user)).balance).toBe('100.0000');

      const hot = await Promise.all(Array.from({ length: 10 }, () => fundedUser(t, admin, '100')));
      const rounds = 4;
      const results: request.Response[] = [];
      await Promise.all(
        Array.from({ length: 64 }, async (_, client) => {
          for (let round = 0; round < rounds; round++) {
            const from = hot[(client + round) % 10];
            const to = hot[(client * 7 + round + 1) % 10];
            if (from === to) continue;
            results.push(
              await transfer(from.user, { toWalletId: to.wallet.id, amount: '0.5', currency: 'USD' }),
            );
          }
        }),
      );
      expect(
        results.filter((r) => ![201, 422].includes(r.status)).map((r) => [r.status, r.body.code]),
      ).toEqual([]);
      await expectLedgerConsistent(t, admin);
    });
  });

  describe('holds', () => {
    const post = (
      u: TestUser,
      path: string,
      body: Record<string, unknown> = {},
      key: string = randomUUID(),
    ) =>
      request(t.server)
        .post(`${API}${path}`)
        .auth(u.token, { type: 'bearer' })
        .set('Idempotency-Key', key)
        .send(body);

    it('reserves, captures part and releases the rest', async () => {
      const a = await fundedUser(t, admin, '100');
      const b = await fundedUser(t, admin, '0');
      const hold = await transfer(a.user, {
        toWalletId: b.wallet.id,
        amount: '40',
        currency: 'USD',
        hold: true,
      });
      expect(hold.status).toBe(201);
      expect(hold.body).toMatchObject({
        status: 'PENDING',
        amount: '40.0000',
        heldAmount: '40.0000',
        completedAt: null,
      });
      expect(await wallet(a.user)).toMatchObject({ balance: '100.0000', availableBalance: '60.0000' });
      expect(await wallet(b.user)).toMatchObject({ balance: '0.0000', availableBalance: '0.0000' });
      await expectRefusedWithoutEffect(
        () => transfer(a.user, { toWalletId: b.wallet.id, amount: '60.0001', currency: 'USD' }),
        422,
        'INSUFFICIENT_FUNDS',
      );

      await expectRefusedWithoutEffect(
        () => post(a.user, `/transfers/${hold.body.id}/capture`),
        403,
        'FORBIDDEN',
      );
      const stranger = await createUser(t);
      await expectRefusedWithoutEffect(
        () => post(stranger, `/transfers/${hold.body.id}/capture`),
        404,
        'TRANSACTION_NOT_FOUND',
      );
      await expectRefusedWithoutEffect(
        () => post(b.user, `/transfers/${hold.body.id}/capture`, { amount: '40.0001' }),
        422,
        'AMOUNT_EXCEEDS_HOLD',
      );
      const captured = await post(b.user, `/transfers/${hold.body.id}/capture`, { amount: '25' });
      expect(captured.status).toBe(200);
      expect(captured.body).toMatchObject({ status: 'COMPLETED', amount: '25.0000', heldAmount: '40.0000' });
      expect(await wallet(a.user)).toMatchObject({ balance: '75.0000', availableBalance: '75.0000' });
      expect(await wallet(b.user)).toMatchObject({ balance: '25.0000', availableBalance: '25.0000' });
      await expectRefusedWithoutEffect(
        () => post(b.user, `/transfers/${hold.body.id}/void`),
        409,
        'TRANSFER_NOT_PENDING',
      );
      await expectRefusedWithoutEffect(
        () => post(b.user, `/transfers/${hold.body.id}/capture`),
        409,
        'TRANSFER_NOT_PENDING',
      );
      await expectLedgerConsistent(t, admin);
    });

    it('voids a hold, releasing everything', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const hold = await transfer(a.user, {
        toWalletId: b.wallet.id,
        amount: '10',
        currency: 'USD',
        hold: true,
      });
      const voided = await post(admin, `/transfers/${hold.body.id}/void`);
      expect(voided.status).toBe(200);
      expect(voided.body).toMatchObject({ status: 'FAILED', failureReason: 'VOIDED' });
      expect(await wallet(a.user)).toMatchObject({ balance: '10.0000', availableBalance: '10.0000' });
    });

    it('of 100 concurrent captures and voids of one hold, exactly one wins and money moves once', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const hold = await transfer(a.user, {
        toWalletId: b.wallet.id,
        amount: '50',
        currency: 'USD',
        hold: true,
      });
      expect(hold.status).toBe(201);
      // Captures take part of the hold, so the final balances say which kind of request won.
      const kinds = Array.from({ length: 100 }, (_, i) => (i % 2 ? 'capture' : 'void'));
      const results = await Promise.all(
        kinds.map((kind) =>
          post(b.user, `/transfers/${hold.body.id}/${kind}`, kind === 'capture' ? { amount: '20' } : {}),
        ),
      );
      const winners = results.flatMap((r, i) => (r.status === 200 ? [i] : []));
      expect(winners).toHaveLength(1);
      // Every request has its own key, so each loser can only be told the hold is no longer pending.
      expect(
        results.filter((r) => r.status !== 200).map((r) => [r.status, (r.body as { code?: string }).code]),
      ).toEqual(Array.from({ length: 99 }, () => [409, 'TRANSFER_NOT_PENDING']));
      const winner = results[winners[0]];
      if (kinds[winners[0]] === 'capture') {
        expect(winner.body).toMatchObject({ id: hold.body.id, status: 'COMPLETED', amount: '20.0000' });
        expect(await wallet(a.user)).toMatchObject({ balance: '30.0000', availableBalance: '30.0000' });
        expect(await wallet(b.user)).toMatchObject({ balance: '20.0000', availableBalance: '20.0000' });
      } else {
        expect(winner.body).toMatchObject({ id: hold.body.id, status: 'FAILED', failureReason: 'VOIDED' });
        expect(await wallet(a.user)).toMatchObject({ balance: '50.0000', availableBalance: '50.0000' });
        expect(await wallet(b.user)).toMatchObject({ balance: '0.0000', availableBalance: '0.0000' });
      }
      await expectLedgerConsistent(t, admin);
    });

    it('holds racing transfers from the same wallet never take availableBalance below zero', async () => {
      const a = await fundedUser(t, admin, '30');
      const b = await fundedUser(t, admin, '0');
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          transfer(a.user, {
            toWalletId: b.wallet.id,
            amount: '1',
            currency: 'USD',
            ...(i % 2 ? { hold: true } : {}),
          }),
        ),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(30);
      const w = await wallet(a.user);
      expect(w.availableBalance).toBe('0.0000');
      await expectLedgerConsistent(t, admin);
    });
  });
});
