import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'csv-parse/sync';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, deposit, fundedUser, type TestUser, type TestWallet } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';
import { explain, nodes, rowsRead } from '../support/query-plans';
import { seedDeposits } from '../support/statement-seed';
import {
  balanceAtQuery,
  historyQuery,
  accountStatementStreamQuery,
} from '../../src/transfers/transactions.repository';

const API = '/api/v1';

describe('contract v1.1 reads: point-in-time balance, metadata filters, CSV statements', () => {
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

  const as = (u: TestUser) => ({
    get: (path: string, query: Record<string, unknown> = {}) =>
      request(t.server).get(`${API}${path}`).query(query).auth(u.token, { type: 'bearer' }),
  });
  const send = (u: TestUser, to: TestWallet, amount: string, extra: Record<string, unknown> = {}) =>
    request(t.server)
      .post(`${API}/transfers`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', randomUUID())
      .send({ toWalletId: to.id, amount, currency: 'USD', ...extra });
  const csv = (u: TestUser, query: Record<string, unknown> = {}) =>
    request(t.server)
      .get(`${API}/wallets/me/transactions`)
      .query(query)
      .set('Accept', 'text/csv')
      .auth(u.token, { type: 'bearer' })
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done(null, text));
      });
  const records = (text: string): Array<Record<string, string>> =>
    parse<Record<string, string>>(text, { columns: true, record_delimiter: '\r\n' });

  describe('point-in-time balance', () => {
    it('is 0.0000 before the first entry, the balance after each entry between them, and the balance now after', async () => {
      const { user, wallet } = await fundedUser(t, admin, '0');
      for (const amount of ['10', '2.5', '0.0001']) {
        await deposit(t, admin, wallet.id, amount);
        await new Promise((r) => setTimeout(r, 5)); // distinct instants, so that "between" exists
      }
      const { rows } = await t.sql.query<{ at: Date }>(
        `SELECT created_at AS at FROM ledger_entries WHERE wallet_id = $1 ORDER BY created_at, id`,
        [wallet.id],
      );
      const [e1, e2, e3] = rows.map((r) => r.at.getTime());
      expect(e1).toBeLessThan(e2);
      expect(e2).toBeLessThan(e3);
      const iso = (ms: number): string => new Date(ms).toISOString();
      const at = async (instant?: string): Promise<string> =>
        (
          await as(user)
            .get('/wallets/me/balance', instant === undefined ? {} : { at: instant })
            .expect(200)
        ).body.balance;
      expect(await at(iso(e1 - 1))).toBe('0.0000');
      expect(await at('2020-01-01')).toBe('0.0000');
      expect(await at(iso(e1))).toBe('10.0000'); // at or before: an entry at `at` counts
      expect(await at(iso(e2 - 1))).toBe('10.0000');
      expect(await at(iso(e2))).toBe('12.5000');
      expect(await at(iso(e3))).toBe('12.5001');
      expect(await at()).toBe('12.5001');
      expect(await at('9999-12-31T23:59:59Z')).toBe('12.5001');
      // An offset names the same instant as its UTC form.
      const e2Plus7 = new Date(e2 + 7 * 3_600_000).toISOString().replace('Z', '+07:00');
      expect(await at(e2Plus7)).toBe('12.5000');

      const res = await as(user)
        .get('/wallets/me/balance', { at: iso(e2) })
        .expect(200);
      expect(res.body).toEqual({ walletId: wallet.id, currency: 'USD', balance: '12.5000', at: iso(e2) });
      const now = await as(user).get('/wallets/me/balance').expect(200);
      expect(Date.parse(now.body.at)).toBeGreaterThanOrEqual(e3);
    });

    it('shows the settled balance: an open hold does not change it, its capture does', async () => {
      const a = await fundedUser(t, admin, '50');
      const b = await fundedUser(t, admin, '0');
      const hold = await send(a.user, b.wallet, '20', { hold: true }).expect(201);
      expect((await as(a.user).get('/wallets/me/balance').expect(200)).body.balance).toBe('50.0000');
      await request(t.server)
        .post(`${API}/transfers/${hold.body.id}/capture`)
        .auth(b.user.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send({})
        .expect(200);
      expect((await as(a.user).get('/wallets/me/balance').expect(200)).body.balance).toBe('30.0000');
      expect((await as(b.user).get('/wallets/me/balance').expect(200)).body.balance).toBe('20.0000');
    });

    it('has an admin form for any wallet, and is for admins only', async () => {
      const { user, wallet } = await fundedUser(t, admin, '7.25');
      const res = await as(admin).get(`/admin/wallets/${wallet.id.toUpperCase()}/balance`).expect(200);
      expect(res.body).toMatchObject({ walletId: wallet.id, currency: 'USD', balance: '7.2500' });
      const before = await as(admin)
        .get(`/admin/wallets/${wallet.id}/balance`, { at: '2000-01-01' })
        .expect(200);
      expect(before.body).toMatchObject({ balance: '0.0000', at: '2000-01-01T00:00:00.000Z' });
      const forbidden = await as(user).get(`/admin/wallets/${wallet.id}/balance`);
      expect([forbidden.status, forbidden.body.code]).toEqual([403, 'FORBIDDEN']);
      const unknown = await as(admin).get(`/admin/wallets/${randomUUID()}/balance`);
      expect([unknown.status, unknown.body.code]).toEqual([404, 'WALLET_NOT_FOUND']);
      const badId = await as(admin).get(`/admin/wallets/not-a-uuid/balance`);
      expect([badId.status, badId.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    });

    it('answers 404 WALLET_NOT_FOUND to a user without a wallet', async () => {
      const none = await createUser(t);
      const res = await as(none).get('/wallets/me/balance');
      expect([res.status, res.body.code]).toEqual([404, 'WALLET_NOT_FOUND']);
    });

    it.each<[string, unknown]>([
      ['words', 'yesterday'],
      ['a week date', '2020-W01'],
      ['basic format', '20200101'],
      ['an hour-only time', '2020-01-01T10'],
      ['a comma fraction', '2020-01-01T10:00:00,5Z'],
      ['February 30', '2024-02-30'],
      ['hour 24', '2024-01-01T24:00:00Z'],
      ['year 0', '0000-01-01'],
      ['an empty value', ''],
      ['a Unix time', '1700000000'],
      ['two values', ['2024-01-01', '2024-01-02']],
    ])('refuses %s as `at` with 400 naming at', async (_name, at) => {
      const { user, wallet } = await fundedUser(t, admin, '1');
      for (const res of [
        await as(user).get('/wallets/me/balance', { at }),
        await as(admin).get(`/admin/wallets/${wallet.id}/balance`, { at }),
      ]) {
        expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['at']);
      }
    });

    it('refuses an unknown parameter with 400', async () => {
      const { user } = await fundedUser(t, admin, '1');
      const res = await as(user).get('/wallets/me/balance', { when: '2024-01-01' });
      expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    });

    it('is one index probe at any depth of a 5,000-entry wallet (the plan, not the clock)', async () => {
      const { user, wallet } = await fundedUser(t, admin, '0');
      await seedDeposits(t, wallet.id, 5000, { stepMs: 1000, endMsAgo: 60_000 });
      const { rows } = await t.sql.query<{ at: Date; balance: string }>(
        `SELECT created_at AS at, balance_after::text AS balance FROM ledger_entries WHERE wallet_id = $1
          ORDER BY created_at, id`,
        [wallet.id],
      );
      expect(rows).toHaveLength(5000);
      for (const depth of [0, 1, 2500, 4999]) {
        const at = rows[depth].at;
        const plan = await explain(t, balanceAtQuery({ userId: user.id }, at));
        const probes = nodes(plan).filter((n) => n['Relation Name'] === 'ledger_entries');
        expect(probes.map((n) => [n['Index Name'], n['Actual Loops'], n['Actual Rows']])).toEqual([
          ['ledger_entries_wallet_time', 1, 1],
        ]);
        expect(rowsRead(plan, 'ledger_entries')).toBe(1);
        const res = await as(user).get('/wallets/me/balance', { at: at.toISOString() }).expect(200);
        expect(res.body.balance).toBe(rows[depth].balance);
      }
      const before = await explain(t, balanceAtQuery({ walletId: wallet.id }, new Date('2000-01-01')));
      expect(rowsRead(before, 'ledger_entries')).toBe(0);
    });
  });

  describe('metadata on every money-moving request', () => {
    const post = (u: TestUser, path: string, body: Record<string, unknown>, key: string = randomUUID()) =>
      request(t.server)
        .post(`${API}${path}`)
        .auth(u.token, { type: 'bearer' })
        .set('Idempotency-Key', key)
        .send(body);
    const indexRows = async (txId: string) =>
      (
        await t.sql.query<{ wallet_id: string; key: string; value: string }>(
          `SELECT wallet_id, key, value FROM transaction_metadata WHERE transaction_id = $1 ORDER BY wallet_id, key`,
          [txId],
        )
      ).rows;

    it('is stored and returned on a transfer, hold, batch item, deposit, withdrawal and refund', async () => {
      const a = await fundedUser(t, admin, '100');
      const b = await fundedUser(t, admin, '0');
      const meta = (kind: string) => ({ kind, 'order.id_1-x': 'A-1042', note: 'é, "quoted"\nline' });

      const transfer = await send(a.user, b.wallet, '1', { metadata: meta('transfer') }).expect(201);
      expect(transfer.body.metadata).toEqual(meta('transfer'));
      expect((await as(b.user).get(`/transfers/${transfer.body.id}`).expect(200)).body.metadata).toEqual(
        meta('transfer'),
      );
      // One index row per party wallet and key.
      expect(await indexRows(transfer.body.id)).toHaveLength(6);
      expect(new Set((await indexRows(transfer.body.id)).map((r) => r.wallet_id))).toEqual(
        new Set([a.wallet.id, b.wallet.id]),
      );

      const hold = await send(a.user, b.wallet, '2', { hold: true, metadata: meta('hold') }).expect(201);
      expect(hold.body.metadata).toEqual(meta('hold'));
      const captured = await post(b.user, `/transfers/${hold.body.id}/capture`, {}).expect(200);
      expect(captured.body.metadata).toEqual(meta('hold'));

      const batch = await post(a.user, '/transfers/batch', {
        transfers: [
          { toWalletId: b.wallet.id, amount: '1', currency: 'USD', metadata: meta('batch') },
          { toWalletId: b.wallet.id, amount: '1', currency: 'USD' },
        ],
      });
      expect(batch.status).toBeLessThan(300);
      expect(
        batch.body.items.map((i: { transaction: { metadata: unknown } }) => i.transaction.metadata),
      ).toEqual([meta('batch'), {}]);

      const dep = await post(admin, `/admin/wallets/${b.wallet.id}/deposits`, {
        amount: '5',
        currency: 'USD',
        metadata: meta('deposit'),
      }).expect(201);
      expect(dep.body.metadata).toEqual(meta('deposit'));
      expect((await indexRows(dep.body.id)).map((r) => r.wallet_id)).toEqual(Array(3).fill(b.wallet.id));

      const wd = await post(a.user, '/wallets/me/withdrawals', {
        amount: '1',
        currency: 'USD',
        metadata: meta('withdrawal'),
      }).expect(201);
      expect(wd.body.metadata).toEqual(meta('withdrawal'));

      const refund = await post(b.user, `/transfers/${transfer.body.id}/refunds`, {
        metadata: meta('refund'),
      }).expect(201);
      expect(refund.body.metadata).toEqual(meta('refund'));

      // Each one found again through the statement, and metadata is {} when none was sent.
      for (const kind of ['transfer', 'hold', 'batch', 'withdrawal', 'refund']) {
        const res = await as(a.user).get('/wallets/me/transactions', { 'metadata.kind': kind }).expect(200);
        expect(res.body.items.map((i: { metadata: unknown }) => i.metadata)).toEqual([meta(kind)]);
      }
      const dep2 = await as(b.user)
        .get('/wallets/me/transactions', { 'metadata.kind': 'deposit' })
        .expect(200);
      expect(dep2.body.items.map((i: { id: string }) => i.id)).toEqual([dep.body.id]);
      const plain = await send(a.user, b.wallet, '1').expect(201);
      expect(plain.body.metadata).toEqual({});
    });

    it('takes 20 keys and values of 500 characters', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const metadata = Object.fromEntries(
        Array.from({ length: 20 }, (_, i) => [`k${i}`.padEnd(40, 'x'), 'v'.repeat(500)]),
      );
      const res = await send(a.user, b.wallet, '1', { metadata }).expect(201);
      expect(res.body.metadata).toEqual(metadata);
    });

    it('is part of the idempotency fingerprint: the same key with other metadata is 422 IDEMPOTENCY_KEY_REUSED', async () => {
      const a = await fundedUser(t, admin, '100');
      const b = await fundedUser(t, admin, '0');
      const cases: Array<[TestUser, string, Record<string, unknown>]> = [
        [a.user, '/transfers', { toWalletId: b.wallet.id, amount: '1', currency: 'USD' }],
        [a.user, '/transfers', { toWalletId: b.wallet.id, amount: '1', currency: 'USD', hold: true }],
        [
          a.user,
          '/transfers/batch',
          { transfers: [{ toWalletId: b.wallet.id, amount: '1', currency: 'USD' }] },
        ],
        [admin, `/admin/wallets/${b.wallet.id}/deposits`, { amount: '1', currency: 'USD' }],
        [a.user, '/wallets/me/withdrawals', { amount: '1', currency: 'USD' }],
      ];
      for (const [user, path, body] of cases) {
        const key = randomUUID();
        const withMeta = (m: Record<string, string>) =>
          path === '/transfers/batch'
            ? { transfers: [{ ...(body.transfers as object[])[0], metadata: m }] }
            : { ...body, metadata: m };
        const first = await post(user, path, withMeta({ orderId: '1' }), key);
        expect(first.status).toBeLessThan(300);
        const replay = await post(user, path, withMeta({ orderId: '1' }), key);
        expect([replay.status, replay.headers['idempotent-replayed'], replay.text]).toEqual([
          first.status,
          'true',
          first.text,
        ]);
        const before = await balancesSnapshot(t);
        for (const other of [withMeta({ orderId: '2' }), withMeta({ orderId: '1', extra: 'x' }), body]) {
          const res = await post(user, path, other, key);
          expect([path, res.status, res.body.code]).toEqual([path, 422, 'IDEMPOTENCY_KEY_REUSED']);
        }
        expect(await balancesSnapshot(t)).toEqual(before);
      }
    });

    const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
    it.each<[string, unknown]>([
      ['21 keys', tooMany],
      ['a key with a space', { 'bad key': 'v' }],
      ['an empty key', { '': 'v' }],
      ['a key of 41 characters', { ['k'.repeat(41)]: 'v' }],
      ['a non-ASCII key', { clé: 'v' }],
      ['a value of 501 characters', { k: 'v'.repeat(501) }],
      ['an empty value', { k: '' }],
      ['a number value', { k: 1 }],
      ['a null value', { k: null }],
      ['an object value', { k: { nested: 'v' } }],
      ['a NUL in a value', { k: 'a\u0000b' }],
      ['an array', ['v']],
      ['null', null],
      ['a string', 'orderId=1'],
    ])('refuses %s with 400 naming metadata, and nothing reaches the database', async (_name, metadata) => {
      const a = await fundedUser(t, admin, '100');
      const b = await fundedUser(t, admin, '0');
      const { rows: before } = await t.sql.query(`SELECT count(*)::int AS n FROM transactions`);
      const balances = await balancesSnapshot(t);
      const cases: Array<[TestUser, string, Record<string, unknown>, string]> = [
        [
          a.user,
          '/transfers',
          { toWalletId: b.wallet.id, amount: '1', currency: 'USD', metadata },
          'metadata',
        ],
        [
          a.user,
          '/transfers',
          { toWalletId: b.wallet.id, amount: '1', currency: 'USD', hold: true, metadata },
          'metadata',
        ],
        [
          a.user,
          '/transfers/batch',
          { transfers: [{ toWalletId: b.wallet.id, amount: '1', currency: 'USD', metadata }] },
          'transfers[0].metadata',
        ],
        [
          admin,
          `/admin/wallets/${b.wallet.id}/deposits`,
          { amount: '1', currency: 'USD', metadata },
          'metadata',
        ],
        [a.user, '/wallets/me/withdrawals', { amount: '1', currency: 'USD', metadata }, 'metadata'],
      ];
      for (const [user, path, body, field] of cases) {
        const res = await post(user, path, body);
        expect([path, res.status, res.body.code]).toEqual([path, 400, 'VALIDATION_FAILED']);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
      const { rows: after } = await t.sql.query(`SELECT count(*)::int AS n FROM transactions`);
      expect(after[0].n).toBe(before[0].n);
      expect(await balancesSnapshot(t)).toEqual(balances);
    });
  });

  describe('metadata filters on the statement', () => {
    it('finds movements by metadata.<key>=<value>, exact match, every filter applying, in JSON and CSV', async () => {
      const a = await fundedUser(t, admin, '100');
      const b = await fundedUser(t, admin, '0');
      const t1 = await send(a.user, b.wallet, '1', { metadata: { orderId: 'A-1', channel: 'web' } }).expect(
        201,
      );
      const t2 = await send(a.user, b.wallet, '2', { metadata: { orderId: 'A-1', channel: 'app' } }).expect(
        201,
      );
      await send(a.user, b.wallet, '3', { metadata: { orderId: 'A-10', channel: 'web' } }).expect(201);
      await send(a.user, b.wallet, '4', { metadata: { orderid: 'A-1' } }).expect(201);
      const ids = async (u: TestUser, q: Record<string, string>) =>
        (await as(u).get('/wallets/me/transactions', q).expect(200)).body.items.map(
          (i: { id: string }) => i.id,
        );
      expect(await ids(a.user, { 'metadata.orderId': 'A-1' })).toEqual([t2.body.id, t1.body.id]);
      expect(await ids(a.user, { 'metadata.orderId': 'A-1', 'metadata.channel': 'web' })).toEqual([
        t1.body.id,
      ]);
      expect(await ids(a.user, { 'metadata.channel': 'web', 'metadata.orderId': 'A-1' })).toEqual([
        t1.body.id,
      ]);
      expect(await ids(a.user, { 'metadata.orderId': 'a-1' })).toEqual([]);
      expect(await ids(a.user, { 'metadata.orderId': 'A-1', 'metadata.nope': 'x' })).toEqual([]);
      // The receiver finds the same movements as CREDIT; the other filters still apply.
      const credit = await as(b.user)
        .get('/wallets/me/transactions', { 'metadata.orderId': 'A-1' })
        .expect(200);
      expect(credit.body.items.map((i: Record<string, string>) => [i.id, i.direction])).toEqual([
        [t2.body.id, 'CREDIT'],
        [t1.body.id, 'CREDIT'],
      ]);
      expect(await ids(b.user, { 'metadata.orderId': 'A-1', direction: 'DEBIT' })).toEqual([]);
      expect(await ids(a.user, { 'metadata.orderId': 'A-1', direction: 'DEBIT' })).toHaveLength(2);
      expect(await ids(a.user, { 'metadata.orderId': 'A-1', type: 'DEPOSIT' })).toEqual([]);
      expect(await ids(a.user, { 'metadata.orderId': 'A-1', limit: '1' })).toEqual([t2.body.id]);
      // Paging by cursor within a filter.
      const first = await as(a.user).get('/wallets/me/transactions', { 'metadata.orderId': 'A-1', limit: 1 });
      const next = await as(a.user)
        .get('/wallets/me/transactions', {
          'metadata.orderId': 'A-1',
          limit: 1,
          cursor: first.body.nextCursor,
        })
        .expect(200);
      expect(next.body.items.map((i: { id: string }) => i.id)).toEqual([t1.body.id]);
      expect(next.body.nextCursor).toBeNull();
      // The CSV form applies the same filters.
      const text = (await csv(a.user, { 'metadata.orderId': 'A-1', 'metadata.channel': 'app' }).expect(200))
        .body;
      expect(records(text as string).map((r) => [r.id, r.metadata])).toEqual([
        [t2.body.id, JSON.stringify({ channel: 'app', orderId: 'A-1' })],
      ]);
    });

    it.each<[string, string, string]>([
      ['a fourth filter', 'metadata.a=1&metadata.b=2&metadata.c=3&metadata.d=4', 'metadata.d'],
      ['a bad key', 'metadata.bad%20key=1', 'metadata.bad key'],
      ['an empty key', 'metadata.=1', 'metadata.'],
      ['a key of 41 characters', `metadata.${'k'.repeat(41)}=1`, `metadata.${'k'.repeat(41)}`],
      ['an empty value', 'metadata.orderId=', 'metadata.orderId'],
      ['a value of 501 characters', `metadata.orderId=${'v'.repeat(501)}`, 'metadata.orderId'],
      ['a key given twice', 'metadata.orderId=1&metadata.orderId=2', 'metadata.orderId'],
      ['a NUL in the value', 'metadata.orderId=a%00b', 'metadata.orderId'],
      ['a plain metadata parameter', 'metadata=%7B%7D', 'metadata'],
      ['an unknown parameter next to a filter', 'metadata.orderId=1&unknown=1', 'unknown'],
    ])('refuses %s with 400 naming the parameter', async (_name, query, field) => {
      const { user } = await fundedUser(t, admin, '1');
      for (const accept of ['application/json', 'text/csv']) {
        const res = await request(t.server)
          .get(`${API}/wallets/me/transactions?${query}`)
          .set('Accept', accept)
          .auth(user.token, { type: 'bearer' });
        expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
    });

    it('reads only the matching rows of a 5,000-entry wallet, never its whole history (the plan)', async () => {
      const { user, wallet } = await fundedUser(t, admin, '0');
      const tagged = new Set([7, 1234, 2500, 3999, 4990]);
      await seedDeposits(t, wallet.id, 5000, {
        metadata: (i) => ({
          batch: `b-${i % 10}`,
          ...(tagged.has(i) ? { orderId: 'X-42', channel: i % 2 === 0 ? 'web' : 'app' } : {}),
        }),
      });
      for (const filters of [
        [['orderId', 'X-42']],
        [
          ['orderId', 'X-42'],
          ['channel', 'web'],
        ],
        [
          ['orderId', 'X-42'],
          ['channel', 'app'],
          ['batch', 'b-7'],
        ],
      ] as Array<Array<[string, string]>>) {
        const page = await explain(t, historyQuery({ userId: user.id, limit: 21, metadata: filters }));
        const stream = await explain(t, accountStatementStreamQuery(wallet.id, { metadata: filters }));
        for (const plan of [page, stream]) {
          const meta = nodes(plan).filter((n) => n['Relation Name'] === 'transaction_metadata');
          expect(meta.map((n) => n['Index Name'])).toEqual(['transaction_metadata_pkey']);
          // Each tagged row once, its transaction by primary key once, its balance by one probe at most.
          expect(rowsRead(plan, 'transaction_metadata')).toBe(tagged.size);
          expect(rowsRead(plan, 'transactions')).toBe(tagged.size);
          expect(rowsRead(plan, 'ledger_entries')).toBeLessThanOrEqual(tagged.size);
        }
      }
      const items = async (q: Record<string, string>) =>
        (await as(user).get('/wallets/me/transactions', q).expect(200)).body.items as Array<{
          metadata: Record<string, string>;
        }>;
      expect(await items({ 'metadata.orderId': 'X-42' })).toHaveLength(5);
      expect(await items({ 'metadata.orderId': 'X-42', 'metadata.channel': 'web' })).toHaveLength(3);
      const three = await items({
        'metadata.orderId': 'X-42',
        'metadata.channel': 'app',
        'metadata.batch': 'b-7',
      });
      expect(three.map((i) => i.metadata)).toEqual([{ batch: 'b-7', orderId: 'X-42', channel: 'app' }]);
      // 500 rows per batch value: the first filter still walks only its own rows.
      const plan = await explain(
        t,
        historyQuery({ userId: user.id, limit: 21, metadata: [['batch', 'b-3']] }),
      );
      expect(rowsRead(plan, 'transaction_metadata')).toBe(21);
    });
  });

  describe('CSV statements', () => {
    it('sends a header row and one row per item, newest first, with the JSON form’s money', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      await send(a.user, b.wallet, '2.5', { metadata: { orderId: 'A-1' } }).expect(201);
      await send(b.user, a.wallet, '1').expect(201);
      await send(a.user, b.wallet, '50').expect(422); // recorded FAILED: no balanceAfter
      await send(a.user, b.wallet, '1', { hold: true }).expect(201); // PENDING
      const res = await csv(a.user).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      const text = res.body as string;
      expect(text.split('\r\n')[0]).toBe(
        'id,type,status,direction,amount,balanceAfter,currency,sourceWalletId,destinationWalletId,heldAmount,' +
          'refundedAmount,originalTransactionId,description,reference,failureReason,metadata,holdExpiresAt,' +
          'createdAt,completedAt',
      );
      expect(text.endsWith('\r\n')).toBe(true);
      const json = (await as(a.user).get('/wallets/me/transactions', { limit: 100 }).expect(200)).body
        .items as Array<Record<string, unknown>>;
      const rows = records(text);
      expect(rows).toHaveLength(5);
      // Every column equals the JSON form's field: null as an empty field, metadata as its JSON text.
      expect(rows).toEqual(
        json.map((item) =>
          Object.fromEntries(
            Object.keys(rows[0]).map((k) => {
              const v = item[k];
              return [k, v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v)];
            }),
          ),
        ),
      );
      expect(rows.map((r) => [r.type, r.status, r.direction, r.amount, r.balanceAfter])).toEqual([
        ['TRANSFER', 'PENDING', 'DEBIT', '1.0000', ''],
        ['TRANSFER', 'FAILED', 'DEBIT', '50.0000', ''],
        ['TRANSFER', 'COMPLETED', 'CREDIT', '1.0000', '8.5000'],
        ['TRANSFER', 'COMPLETED', 'DEBIT', '2.5000', '7.5000'],
        ['DEPOSIT', 'COMPLETED', 'CREDIT', '10.0000', '10.0000'],
      ]);
    });

    it('applies the filters of the JSON form, and not limit or cursor', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      for (let i = 0; i < 3; i++) await send(a.user, b.wallet, '1').expect(201);
      await send(a.user, b.wallet, '100').expect(422);
      const only = async (q: Record<string, unknown>) =>
        records((await csv(a.user, q).expect(200)).body as string).map(
          (r) => `${r.type}/${r.status}/${r.direction}`,
        );
      expect(await only({ status: 'FAILED' })).toEqual(['TRANSFER/FAILED/DEBIT']);
      expect(await only({ type: 'DEPOSIT' })).toEqual(['DEPOSIT/COMPLETED/CREDIT']);
      expect(await only({ direction: 'CREDIT' })).toEqual(['DEPOSIT/COMPLETED/CREDIT']);
      expect(await only({ direction: 'DEBIT', status: 'COMPLETED' })).toHaveLength(3);
      expect(await only({ from: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
      expect(await only({ to: '2000-01-01' })).toEqual([]);
      expect(await only({ limit: 1 })).toHaveLength(5);
      const page = await as(a.user).get('/wallets/me/transactions', { limit: 1 }).expect(200);
      expect(await only({ cursor: page.body.nextCursor })).toHaveLength(5);
      // Bad input is still 400, and a header row alone when nothing matches.
      const bad = await csv(a.user, { status: 'DONE' });
      expect([bad.status, bad.headers['content-type']]).toEqual([
        400,
        expect.stringMatching(/problem\+json/),
      ]);
      const empty = await csv(a.user, { status: 'PENDING' }).expect(200);
      expect((empty.body as string).split('\r\n')).toEqual([expect.stringMatching(/^id,type,status/), '']);
    });

    it('quotes as RFC 4180 asks: commas, quotes and line breaks survive a round trip through csv-parse', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const description = 'Dinner, "La Bodega"\r\nsplit 3 ways;\nthanks, "Bob"\u00e9\ud83d\ude00';
      const metadata = { note: 'a,b "c"\nd', 'k.e-y_1': 'x' };
      await send(a.user, b.wallet, '1', { description, metadata }).expect(201);
      const text = (await csv(a.user, { type: 'TRANSFER' }).expect(200)).body as string;
      const [row] = records(text);
      expect(row.description).toBe(description);
      expect(JSON.parse(row.metadata)).toEqual(metadata);
      // And each record is a line of its own: no unquoted line break inside a field.
      expect(parse(text, { relax_quotes: false, record_delimiter: '\r\n' })).toHaveLength(2);
    });

    it('defuses a spreadsheet formula in a text field', async () => {
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      await send(a.user, b.wallet, '1', { description: '=HYPERLINK("http://x","y")' }).expect(201);
      const [row] = records((await csv(a.user, { type: 'TRANSFER' }).expect(200)).body as string);
      expect(row.description).toBe(`'=HYPERLINK("http://x","y")`);
    });

    it('answers 404 WALLET_NOT_FOUND without a wallet, as JSON problem details', async () => {
      const none = await createUser(t);
      const res = await csv(none);
      expect([res.status, res.headers['content-type']]).toEqual([
        404,
        expect.stringMatching(/problem\+json/),
      ]);
    });

    it('gives JSON unless text/csv is asked for at least as much as application/json', async () => {
      const { user } = await fundedUser(t, admin, '1');
      const kind = async (accept?: string) => {
        const req = request(t.server)
          .get(`${API}/wallets/me/transactions`)
          .auth(user.token, { type: 'bearer' });
        const res = await (accept === undefined ? req : req.set('Accept', accept)).expect(200);
        return String(res.headers['content-type']).split(';')[0];
      };
      expect(await kind()).toBe('application/json');
      expect(await kind('*/*')).toBe('application/json');
      expect(await kind('application/json')).toBe('application/json');
      expect(await kind('application/json, text/csv;q=0.5')).toBe('application/json');
      expect(await kind('text/csv;q=0')).toBe('application/json');
      expect(await kind('text/csv')).toBe('text/csv');
      expect(await kind('TEXT/CSV; charset=utf-8')).toBe('text/csv');
      expect(await kind('text/csv, application/json')).toBe('text/csv');
    });

    it('streams a statement of 6,000 rows completely, in order, each with its running balance', async () => {
      const { user, wallet } = await fundedUser(t, admin, '0');
      const count = 6000;
      await seedDeposits(t, wallet.id, count, { stepMs: 10, endMsAgo: 1000 });
      const text = (await csv(user).expect(200)).body as string;
      const rows = records(text);
      expect(rows).toHaveLength(count);
      expect(rows[0].balanceAfter).toBe('60.0000');
      expect(rows[count - 1].balanceAfter).toBe('0.0100');
      const { rows: expected } = await t.sql.query<{ id: string }>(
        `SELECT id FROM transactions WHERE destination_wallet_id = $1 ORDER BY seq DESC`,
        [wallet.id],
      );
      expect(rows.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    });

    it('gives its connection back to the pool when the client goes away mid-stream', async () => {
      const { user, wallet } = await fundedUser(t, admin, '0');
      await seedDeposits(t, wallet.id, 20_000, { stepMs: 1, endMsAgo: 1000 });
      await t.app.listen(0, '127.0.0.1');
      const port = (t.app.getHttpServer().address() as AddressInfo).port;
      const abandon = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const req = http.get(
            {
              host: '127.0.0.1',
              port,
              path: `${API}/wallets/me/transactions`,
              headers: { Accept: 'text/csv', Authorization: `Bearer ${user.token}` },
            },
            (res) => {
              if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
              res.once('data', () => {
                req.destroy();
                resolve();
              });
            },
          );
          req.on('error', () => undefined);
        });
      // More abandoned exports than the pool has connections (DB_POOL_SIZE=10 in tests): a leak would
      // leave the later ones, and every other request, waiting for a connection forever.
      for (let i = 0; i < 15; i++) await abandon();
      const res = await csv(user, { type: 'DEPOSIT', from: new Date(Date.now() + 60_000).toISOString() });
      expect(res.status).toBe(200);
      await as(user).get('/wallets/me/balance').expect(200);
    });
  });
});
