import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { TestApp } from '../support/app';
import {
  type Cluster,
  counterTotal,
  databaseDeadlocks,
  databaseDeadlocksAfter,
  startCluster,
} from '../support/cluster';
import { createUser, deposit, fundedUser, type TestUser, type TestWallet } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

/**
 * The money suites of ledger-engine.spec.ts, run where the in-process per-wallet queue cannot absorb the
 * contention, so the database's own guards (the version check, the row locks) decide every race:
 * - queue off: one instance, no queue, optimistic only: every collision is a version conflict, retried;
 * - locked path: one instance, no queue, every attempt locks its wallets first (SELECT ... FOR UPDATE);
 * - two instances: default settings on each (queue on), one database, requests taking turns.
 * The last test of each mode proves from the metrics that the path it names really ran.
 */
interface Mode {
  name: string;
  instances: number;
  env: Record<string, string>;
  provePath(c: Cluster): Promise<void>;
}

const MODES: Mode[] = [
  {
    name: 'queue off',
    instances: 1,
    env: {
      TRANSFER_QUEUE: 'false',
      TRANSFER_LOCK_AFTER_ATTEMPTS: '0',
      TRANSFER_MAX_RETRY_MS: '60000',
      TRANSFER_MAX_ATTEMPTS: '50',
    },
    provePath: async (c) => {
      expect(
        await counterTotal(c.instances, 'transfer_conflicts_total', { reason: 'version' }),
      ).toBeGreaterThan(0);
      expect(await counterTotal(c.instances, 'transfer_attempts_total', { kind: 'locked' })).toBe(0);
    },
  },
  {
    name: 'locked path',
    instances: 1,
    env: { TRANSFER_QUEUE: 'false', TRANSFER_LOCK_AFTER_ATTEMPTS: '1' },
    provePath: async (c) => {
      expect(await counterTotal(c.instances, 'transfer_attempts_total', { kind: 'locked' })).toBeGreaterThan(
        0,
      );
      expect(await counterTotal(c.instances, 'transfer_attempts_total', { kind: 'optimistic' })).toBe(0);
    },
  },
  {
    name: 'two instances',
    instances: 2,
    env: {},
    provePath: async (c) => {
      expect(
        await counterTotal(c.instances, 'transfer_conflicts_total', { reason: 'version' }),
      ).toBeGreaterThan(0);
      for (const t of c.instances) {
        expect(await counterTotal([t], 'money_movements_total', { status: '201' })).toBeGreaterThan(100);
      }
    },
  },
];

describe.each(MODES)('contended money paths: $name', (mode) => {
  let c: Cluster;
  let t: TestApp;
  let admin: TestUser;

  beforeAll(async () => {
    c = await startCluster(mode.instances, mode.env);
    t = c.primary;
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    try {
      await expectLedgerConsistent(t, admin);
    } finally {
      await c.close();
    }
  });

  /** A money-moving POST through the instance whose turn `i` is. */
  const post = (
    i: number,
    u: TestUser,
    path: string,
    body: Record<string, unknown>,
    key: string = randomUUID(),
  ) =>
    request(c.pick(i).server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);
  const transfer = (
    i: number,
    from: TestUser,
    to: TestWallet,
    amount: string,
    extra: Record<string, unknown> = {},
  ) => post(i, from, '/transfers', { toWalletId: to.id, amount, currency: 'USD', ...extra });
  const wallet = async (u: TestUser) =>
    (await request(t.server).get(`${API}/wallets/me`).auth(u.token, { type: 'bearer' }).expect(200)).body as {
      id: string;
      balance: string;
      availableBalance: string;
    };
  const countByStatus = (results: request.Response[]) =>
    results.reduce<Record<number, number>>((m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }), {});
  const deadlockConflicts = () =>
    counterTotal(c.instances, 'transfer_conflicts_total', { reason: 'deadlock' });

  describe('concurrency', () => {
    /** The 200-debit race, kept for the next test, which checks its refusals were stored. */
    let race: {
      a: { user: TestUser; wallet: TestWallet };
      b: { wallet: TestWallet };
      keys: string[];
      results: request.Response[];
    };

    it('200 concurrent debits of 1 from a wallet holding 50 give exactly 50 successes and 150 refusals', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const keys = Array.from({ length: 200 }, () => randomUUID());
      const body = { toWalletId: b.wallet.id, amount: '1', currency: 'USD' };
      const results = await Promise.all(keys.map((key, i) => post(i, a.user, '/transfers', body, key)));
      race = { a, b, keys, results };
      expect(countByStatus(results)).toEqual({ 201: 50, 422: 150 });
      for (const r of results.filter((x) => x.status === 422)) expect(r.body.code).toBe('INSUFFICIENT_FUNDS');
      expect((await wallet(a.user)).balance).toBe('0.0000');
      expect(await wallet(b.user)).toMatchObject({ balance: '50.0000' });
      await expectLedgerConsistent(t, admin);
    });

    it('stores every refusal of that race as FAILED and replays it byte for byte once the wallet is funded again', async () => {
      expect(race).toBeDefined();
      const refused = race.results
        .map((r, i) => ({ r, i }))
        .filter(({ r }) => r.status === 422 && r.body.code === 'INSUFFICIENT_FUNDS');
      expect(refused).toHaveLength(150);
      const ids = refused.map(({ r }) => r.body.transactionId as string);
      expect(new Set(ids).size).toBe(150);
      const { rows } = await t.sql.query<{ status: string; failure_reason: string; n: string }>(
        `SELECT status, failure_reason, count(*)::text AS n FROM transactions WHERE id = ANY($1::uuid[])
          GROUP BY status, failure_reason`,
        [ids],
      );
      expect(rows).toEqual([{ status: 'FAILED', failure_reason: 'INSUFFICIENT_FUNDS', n: '150' }]);

      await deposit(t, admin, race.a.wallet.id, '500');
      const before = await balancesSnapshot(t);
      // Each re-send goes through the other instance (in two-instance mode) than the one that refused it.
      const again = await Promise.all(
        refused.map(({ i }) =>
          post(
            i + 1,
            race.a.user,
            '/transfers',
            { toWalletId: race.b.wallet.id, amount: '1', currency: 'USD' },
            race.keys[i],
          ),
        ),
      );
      expect(again.map((r) => r.status)).toEqual(refused.map(() => 422));
      again.forEach((r, n) => {
        expect(r.text).toBe(refused[n].r.text);
        expect(r.headers['idempotent-replayed']).toBe('true');
      });
      expect(await balancesSnapshot(t)).toEqual(before);
      expect((await wallet(race.a.user)).balance).toBe('500.0000');
    });

    it('200 A->B against 200 B->A: no 5xx, no deadlock, exact final balances', async () => {
      const a = await fundedUser(t, admin, '1000');
      const b = await fundedUser(t, admin, '1000');
      const deadlocksBefore = await deadlockConflicts();
      const results = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          i % 2 === 0 ? transfer(i >> 1, a.user, b.wallet, '1') : transfer(i >> 1, b.user, a.wallet, '2'),
        ),
      );
      expect(results.filter((r) => r.status !== 201).map((r) => [r.status, r.body.code])).toEqual([]);
      expect(await deadlockConflicts()).toBe(deadlocksBefore);
      expect((await wallet(a.user)).balance).toBe('1200.0000');
      expect((await wallet(b.user)).balance).toBe('800.0000');
      await expectLedgerConsistent(t, admin);
    });

    it('a ring A->B->C->A and 64 clients on 10 hot wallets keep every invariant', async () => {
      const ring = await Promise.all([0, 1, 2].map(() => fundedUser(t, admin, '100')));
      const ringResults = await Promise.all(
        Array.from({ length: 90 }, (_, i) => transfer(i, ring[i % 3].user, ring[(i + 1) % 3].wallet, '1')),
      );
      expect(ringResults.filter((r) => r.status !== 201).map((r) => [r.status, r.body.code])).toEqual([]);
      for (const r of ring) expect((await wallet(r.user)).balance).toBe('100.0000');

      const hot = await Promise.all(Array.from({ length: 10 }, () => fundedUser(t, admin, '100')));
      const results: request.Response[] = [];
      await Promise.all(
        Array.from({ length: 64 }, async (_, client) => {
          for (let round = 0; round < 4; round++) {
            const from = hot[(client + round) % 10];
            const to = hot[(client * 7 + round + 1) % 10];
            if (from === to) continue;
            results.push(await transfer(client + round, from.user, to.wallet, '0.5'));
          }
        }),
      );
      expect(results.length).toBeGreaterThan(200);
      expect(results.filter((r) => r.status !== 201).map((r) => [r.status, r.body.code])).toEqual([]);
      const { rows } = await t.sql.query(
        `SELECT sum(balance)::text AS total FROM wallets WHERE id = ANY($1::uuid[])`,
        [hot.map((h) => h.wallet.id)],
      );
      expect(rows).toEqual([{ total: '1000.0000' }]);
      await expectLedgerConsistent(t, admin);
    });
  });

  describe('idempotency', () => {
    it('applies concurrent duplicates of one Idempotency-Key exactly once', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const key = randomUUID();
      const body = { toWalletId: b.wallet.id, amount: '1', currency: 'USD' };
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => post(i, a.user, '/transfers', body, key)),
      );
      const first = results.filter((r) => r.status === 201 && r.headers['idempotent-replayed'] === undefined);
      expect(first).toHaveLength(1);
      for (const r of results) {
        if (r.status === 201) expect(r.body).toEqual(first[0].body);
        if (r.status === 201 && r !== first[0]) expect(r.headers['idempotent-replayed']).toBe('true');
        if (r.status !== 201) expect([r.status, r.body.code]).toEqual([409, 'IDEMPOTENCY_IN_PROGRESS']);
      }
      expect((await wallet(a.user)).balance).toBe('9.0000');
      expect((await wallet(b.user)).balance).toBe('1.0000');
      const { rows } = await t.sql.query(`SELECT id FROM transactions WHERE source_wallet_id = $1`, [
        a.wallet.id,
      ]);
      expect(rows).toEqual([{ id: first[0].body.id }]);
    });
  });

  describe('holds', () => {
    it('of 100 concurrent captures and voids of one hold exactly one wins, and the balances follow the winner', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const hold = await transfer(0, a.user, b.wallet, '50', { hold: true });
      expect(hold.status).toBe(201);
      const actions = Array.from({ length: 100 }, (_, i) => (i % 2 ? 'capture' : 'void'));
      const results = await Promise.all(
        actions.map((action, i) =>
          post(
            i,
            b.user,
            `/transfers/${hold.body.id}/${action}`,
            action === 'capture' ? { amount: '30' } : {},
          ),
        ),
      );
      const winners = results.map((r, i) => ({ r, action: actions[i] })).filter(({ r }) => r.status === 200);
      expect(winners).toHaveLength(1);
      expect(
        results
          .filter((r) => r.status !== 200)
          .filter((r) => r.status !== 409 || r.body.code !== 'TRANSFER_NOT_PENDING'),
      ).toEqual([]);
      if (winners[0].action === 'capture') {
        expect(winners[0].r.body).toMatchObject({ status: 'COMPLETED', amount: '30.0000' });
        expect(await wallet(a.user)).toMatchObject({ balance: '20.0000', availableBalance: '20.0000' });
        expect(await wallet(b.user)).toMatchObject({ balance: '30.0000', availableBalance: '30.0000' });
      } else {
        expect(winners[0].r.body).toMatchObject({ status: 'FAILED', failureReason: 'VOIDED' });
        expect(await wallet(a.user)).toMatchObject({ balance: '50.0000', availableBalance: '50.0000' });
        expect(await wallet(b.user)).toMatchObject({ balance: '0.0000', availableBalance: '0.0000' });
      }
      await expectLedgerConsistent(t, admin);
    });

    it('holds racing transfers from the same wallet never take availableBalance below zero', async () => {
      const a = await fundedUser(t, admin, '30');
      const b = await fundedUser(t, admin, '0');
      const isHold = (i: number) => i % 2 === 1;
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          transfer(i >> 1, a.user, b.wallet, '1', isHold(i) ? { hold: true } : {}),
        ),
      );
      expect(countByStatus(results)).toEqual({ 201: 30, 422: 30 });
      for (const r of results.filter((x) => x.status === 422)) expect(r.body.code).toBe('INSUFFICIENT_FUNDS');
      const moved = results.filter((r, i) => r.status === 201 && !isHold(i)).length;
      const w = await wallet(a.user);
      expect(w).toMatchObject({ balance: `${30 - moved}.0000`, availableBalance: '0.0000' });
      expect(await wallet(b.user)).toMatchObject({ balance: `${moved}.0000` });
      await expectLedgerConsistent(t, admin);
    });

    it('holds S->D against transfers D->S, both ways round, meet no deadlock and conserve money', async () => {
      const p = await fundedUser(t, admin, '1000');
      const q = await fundedUser(t, admin, '1000');
      const pgBefore = await databaseDeadlocks(t);
      const engineBefore = await deadlockConflicts();
      // Both directions, so whichever of the two wallet ids sorts first, some hold meets a transfer that
      // locks in the other order. With two instances the holds go through one and the transfers through
      // the other, so no in-process queue stands between them.
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const [from, to] = i % 4 < 2 ? [p, q] : [q, p];
          const hold = i % 2 === 0;
          return hold
            ? transfer(0, from.user, to.wallet, '1', { hold: true })
            : transfer(1, to.user, from.wallet, '1');
        }),
      );
      expect(results.filter((r) => r.status !== 201).map((r) => [r.status, r.body.code])).toEqual([]);
      expect(await deadlockConflicts()).toBe(engineBefore);
      expect(await databaseDeadlocksAfter(t, pgBefore)).toBe(pgBefore);
      for (const u of [p, q]) {
        expect(await wallet(u.user)).toMatchObject({ balance: '1000.0000', availableBalance: '950.0000' });
      }
      await expectLedgerConsistent(t, admin);
    });
  });

  it(`the contention reached the path "${mode.name}" is meant to prove (metrics of the tests above)`, async () => {
    await mode.provePath(c);
  });
});
