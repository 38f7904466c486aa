import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { TestApp } from '../support/app';
import {
  CONTENDED_MODES,
  type Cluster,
  type ClusterRequests,
  clusterRequests,
  counterTotal,
  countByStatus,
  startCluster,
} from '../support/cluster';
import { createUser, deposit, fundedUser, type TestUser, type TestWallet } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

/**
 * The concurrency and idempotency suites of ledger-engine.spec.ts, run where the in-process write combiner
 * queue cannot absorb the contention (see CONTENDED_MODES): with the queue off, on the locked path, and on
 * two instances sharing one database. The holds run the same way in contended-holds.spec.ts.
 */
describe.each(CONTENDED_MODES)('contended money paths: $name', (mode) => {
  let c: Cluster;
  let t: TestApp;
  let admin: TestUser;
  let post: ClusterRequests['post'];
  let transfer: ClusterRequests['transfer'];
  let wallet: ClusterRequests['wallet'];

  beforeAll(async () => {
    c = await startCluster(mode.instances, mode.env);
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

    it(`${mode.opposing} A->B against ${mode.opposing} B->A: no 5xx, no deadlock, exact final balances`, async () => {
      const a = await fundedUser(t, admin, '1000');
      const b = await fundedUser(t, admin, '1000');
      const deadlocksBefore = await deadlockConflicts();
      const results = await Promise.all(
        Array.from({ length: 2 * mode.opposing }, (_, i) =>
          i % 2 === 0 ? transfer(i >> 1, a.user, b.wallet, '1') : transfer(i >> 1, b.user, a.wallet, '2'),
        ),
      );
      expect(results.filter((r) => r.status !== 201).map((r) => [r.status, r.body.code])).toEqual([]);
      expect(await deadlockConflicts()).toBe(deadlocksBefore);
      // A sends 1 and receives 2 per pair.
      expect((await wallet(a.user)).balance).toBe(`${1000 + mode.opposing}.0000`);
      expect((await wallet(b.user)).balance).toBe(`${1000 - mode.opposing}.0000`);
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

  // Last, on purpose: it reads the metrics the tests above left.
  describe('the path', () => {
    it(`the races above reached the path "${mode.name}" is meant to prove (from the metrics)`, async () => {
      await mode.provePath(c);
    });
  });
});
