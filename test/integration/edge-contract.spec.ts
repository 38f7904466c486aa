import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser, type TestWallet } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';
const CONSOLE = 'https://admin.example.com';

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** A request over a plain socket, with exactly the headers given (supertest adds a Content-Type of its own). */
function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text || '{}') }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A field error naming `field`, in a 400 VALIDATION_FAILED problem body. */
function expectFieldRefused(res: { status: number; body: Record<string, unknown> }, field: string): void {
  expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
  const errors = (res.body.errors ?? []) as Array<{ field: string }>;
  expect(errors.map((e) => e.field)).toContain(field);
}

describe('edge contract (review issue 11)', () => {
  let t: TestApp;
  let port: number;
  let admin: TestUser;
  let alice: { user: TestUser; wallet: TestWallet };
  let bob: { user: TestUser; wallet: TestWallet };

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: `${CONSOLE}, https://other.example.com` });
    await t.app.listen(0, '127.0.0.1');
    port = (t.server.address() as AddressInfo).port;
    admin = await createUser(t, { role: 'ADMIN' });
    alice = await fundedUser(t, admin, '100');
    bob = await fundedUser(t, admin, '10');
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  const post = (path: string, token: string, body: unknown, key = randomUUID()) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body as object);

  const statement = (token: string, query: string) =>
    request(t.server).get(`${API}/wallets/me/transactions?${query}`).auth(token, { type: 'bearer' });

  describe('null is not a value for an optional field', () => {
    it('refuses a capture with amount null with 400 naming amount, and the hold stays PENDING', async () => {
      const hold = await post('/transfers', alice.user.token, {
        toWalletId: bob.wallet.id,
        amount: '5',
        currency: 'USD',
        hold: true,
      }).expect(201);
      const before = await balancesSnapshot(t);
      const res = await post(`/transfers/${hold.body.id}/capture`, bob.user.token, { amount: null });
      expectFieldRefused(res, 'amount');
      expect(await balancesSnapshot(t)).toEqual(before);
      const after = await request(t.server)
        .get(`${API}/transfers/${hold.body.id}`)
        .auth(bob.user.token, { type: 'bearer' })
        .expect(200);
      expect(after.body.status).toBe('PENDING');
      await post(`/transfers/${hold.body.id}/void`, bob.user.token, undefined).expect(200);
    });

    it.each([
      ['/transfers', 'description'],
      ['/transfers', 'hold'],
      ['/transfers', 'holdExpiresInSeconds'],
      ['/wallets/me/withdrawals', 'reference'],
    ])('refuses %s with %s null with 400 naming it, moving nothing', async (path, field) => {
      const base =
        path === '/transfers'
          ? { toWalletId: bob.wallet.id, amount: '1', currency: 'USD' }
          : { amount: '1', currency: 'USD' };
      const before = await balancesSnapshot(t);
      expectFieldRefused(await post(path, alice.user.token, { ...base, [field]: null }), field);
      expect(await balancesSnapshot(t)).toEqual(before);
    });

    it('refuses a deposit with reference null', async () => {
      const res = await post(`/admin/wallets/${bob.wallet.id}/deposits`, admin.token, {
        amount: '1',
        currency: 'USD',
        reference: null,
      });
      expectFieldRefused(res, 'reference');
    });
  });

  describe('statement dates', () => {
    it.each([
      '2020-W01',
      '2020-W01-1',
      '20200101',
      '2020-01-01T10',
      '2020-01-01T10:00:00,5Z',
      '2020-02-30',
      '2023-02-29',
      '2020-13-01',
      '2020-01-01T24:00:00Z',
      '2020-01-01T23:59:60Z',
      '2020-01-01T10:00:00+24:00',
      '2020-01-01T10:00:00+0100',
      '2020-001',
      '+002020-01-01',
      '0000-01-01',
      '2020-01-01 10:00:00Z',
      '2020-01-01T10:00:00.Z',
      '２０２０-01-01',
      '',
    ])('refuses from=%p and to=%p with 400 naming the field', async (value) => {
      for (const field of ['from', 'to']) {
        expectFieldRefused(await statement(alice.user.token, `${field}=${encodeURIComponent(value)}`), field);
      }
    });

    it.each([
      '2024-02-29',
      '2020-01-01T10:00Z',
      '2020-01-01T10:00:00Z',
      '2020-01-01T10:00:00.123456789Z',
      '2020-01-01T10:00:00-05:30',
      '2020-01-01T10:00:00',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
    ])('accepts %p', async (value) => {
      await statement(alice.user.token, `from=${encodeURIComponent(value)}`).expect(200);
      await statement(alice.user.token, `to=${encodeURIComponent(value)}`).expect(200);
    });

    it('reads an offset as the instant it names', async () => {
      const page = await statement(bob.user.token, 'type=DEPOSIT&limit=1').expect(200);
      const created = new Date(page.body.items[0].createdAt as string);
      const id = page.body.items[0].id as string;
      // The same instants written one hour ahead, at +01:00.
      const at = (ms: number): string =>
        `${new Date(created.getTime() + ms + 3_600_000).toISOString().slice(0, -1)}+01:00`;
      const ids = async (query: string): Promise<string[]> =>
        ((await statement(bob.user.token, query).expect(200)).body.items as Array<{ id: string }>).map(
          (i) => i.id,
        );
      expect(await ids(`from=${encodeURIComponent(at(0))}`)).toContain(id);
      expect(await ids(`from=${encodeURIComponent(at(1))}`)).not.toContain(id);
      expect(await ids(`to=${encodeURIComponent(at(1))}`)).toContain(id);
      expect(await ids(`to=${encodeURIComponent(at(0))}`)).not.toContain(id);
    });
  });

  describe('cursors', () => {
    const cursor = (text: string): string => Buffer.from(text).toString('base64url');

    it.each(['s:9223372036854775808', 's:9999999999999999999', 's:-1', 's:', 's:1 ', 'x:1', '{}'])(
      'refuses a cursor decoding to %p with 400 naming cursor',
      async (text) => {
        expectFieldRefused(await statement(alice.user.token, `cursor=${cursor(text)}`), 'cursor');
      },
    );

    it('accepts the largest bigint as a cursor', async () => {
      const res = await statement(alice.user.token, `cursor=${cursor('s:9223372036854775807')}`).expect(200);
      expect(res.body.items.length).toBeGreaterThan(0);
    });
  });

  describe('query fields given more than once', () => {
    it.each([
      ['status', 'status=PENDING&status=FAILED'],
      ['type', 'type=DEPOSIT&type=TRANSFER'],
      ['direction', 'direction=DEBIT&direction=CREDIT'],
      ['limit', 'limit=1&limit=2'],
      ['cursor', 'cursor=czox&cursor=czoy'],
      ['from', 'from=2020-01-01&from=2020-01-02'],
      ['limit', 'limit=100000000000000000000'],
      ['limit', 'limit=%EF%BC%91'],
      ['limit', 'limit=1e1'],
    ])('refuses %s in ?%s with 400 naming it', async (field, query) => {
      expectFieldRefused(await statement(alice.user.token, query), field);
    });
  });

  describe('content types', () => {
    it.each([
      'application/xml',
      'multipart/form-data; boundary=xyz',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      'application/merge-patch+json',
      'application/problem+json',
      'text/json',
    ])('answers a body sent as %s with 415 UNSUPPORTED_MEDIA_TYPE, moving nothing', async (type) => {
      const before = await balancesSnapshot(t);
      const res = await raw(
        port,
        'POST',
        `${API}/transfers`,
        {
          authorization: `Bearer ${alice.user.token}`,
          'idempotency-key': randomUUID(),
          'content-type': type,
        },
        JSON.stringify({ toWalletId: bob.wallet.id, amount: '1', currency: 'USD' }),
      );
      expect([res.status, res.body.code, res.body.status]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE', 415]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.requestId).toBe(res.headers['x-request-id']);
      expect(await balancesSnapshot(t)).toEqual(before);
    });

    it('answers a body with no Content-Type at all with 415, chunked or not', async () => {
      const body = JSON.stringify({ toWalletId: bob.wallet.id, amount: '1', currency: 'USD' });
      const headers = { authorization: `Bearer ${alice.user.token}`, 'idempotency-key': randomUUID() };
      const before = await balancesSnapshot(t);
      const sized = await raw(
        port,
        'POST',
        `${API}/transfers`,
        {
          ...headers,
          'content-length': String(Buffer.byteLength(body)),
        },
        body,
      );
      const chunked = await raw(
        port,
        'POST',
        `${API}/transfers`,
        {
          ...headers,
          'transfer-encoding': 'chunked',
        },
        body,
      );
      const patch = await raw(
        port,
        'PATCH',
        `${API}/admin/users/${bob.user.id}/status`,
        {
          authorization: `Bearer ${admin.token}`,
          'content-type': 'text/plain',
        },
        'SUSPENDED',
      );
      for (const res of [sized, chunked, patch]) {
        expect([res.status, res.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
      }
      expect(await balancesSnapshot(t)).toEqual(before);
    });

    it('still reads application/json with a UTF-8 charset, and a bodyless POST without a Content-Type', async () => {
      const res = await raw(
        port,
        'POST',
        `${API}/transfers`,
        {
          authorization: `Bearer ${alice.user.token}`,
          'idempotency-key': randomUUID(),
          'content-type': 'Application/JSON; Charset="UTF-8"',
        },
        JSON.stringify({ toWalletId: bob.wallet.id, amount: '1', currency: 'USD' }),
      );
      expect(res.status).toBe(201);
      const hold = await post('/transfers', alice.user.token, {
        toWalletId: bob.wallet.id,
        amount: '1',
        currency: 'USD',
        hold: true,
      }).expect(201);
      const voided = await raw(port, 'POST', `${API}/transfers/${hold.body.id}/void`, {
        authorization: `Bearer ${bob.user.token}`,
        'idempotency-key': randomUUID(),
      });
      expect([voided.status, voided.body.failureReason]).toEqual([200, 'VOIDED']);
    });
  });

  describe('text the database could not store as sent', () => {
    it.each([
      ['/transfers', 'description', 'a\u0000b'],
      ['/transfers', 'description', 'lone \ud800 high'],
      ['/transfers', 'description', 'lone \udc00 low'],
      ['/wallets/me/withdrawals', 'reference', 'ref\u0000'],
      ['/wallets/me/withdrawals', 'reference', '\udfff'],
    ])('refuses %s with %s %p with 400, moving nothing', async (path, field, value) => {
      const base =
        path === '/transfers'
          ? { toWalletId: bob.wallet.id, amount: '1', currency: 'USD' }
          : { amount: '1', currency: 'USD' };
      const before = await balancesSnapshot(t);
      expectFieldRefused(await post(path, alice.user.token, { ...base, [field]: value }), field);
      expect(await balancesSnapshot(t)).toEqual(before);
    });

    it('refuses a fullName with an unpaired surrogate at registration', async () => {
      const res = await request(t.server)
        .post(`${API}/auth/register`)
        .send({
          email: `${randomUUID()}@example.com`,
          password: 'long enough password',
          fullName: 'Ada \ud83d',
        });
      expectFieldRefused(res, 'fullName');
    });

    it('refuses an email with an unpaired surrogate at registration and login (isEmail threw: a 500)', async () => {
      for (const path of ['register', 'login']) {
        for (const email of ['\ud800', `ada\udc00@example.com`]) {
          const res = await request(t.server)
            .post(`${API}/auth/${path}`)
            .send({
              email,
              password: 'long enough password',
              ...(path === 'register' ? { fullName: 'Ada' } : {}),
            });
          expectFieldRefused(res, 'email');
        }
      }
    });

    it('keeps astral characters intact (a pair is one character of the 500)', async () => {
      const description = `${'😀'.repeat(499)}é`;
      const res = await post('/transfers', alice.user.token, {
        toWalletId: bob.wallet.id,
        amount: '0.01',
        currency: 'USD',
        description,
      }).expect(201);
      expect(res.body.description).toBe(description);
      const { rows } = await t.sql.query<{ d: string }>(
        `SELECT description AS d FROM transactions WHERE id = $1`,
        [res.body.id],
      );
      expect(rows[0].d).toBe(description);
    });
  });

  describe('ids in any case', () => {
    it('deposits to a wallet named in upper case', async () => {
      const before = await request(t.server)
        .get(`${API}/wallets/me`)
        .auth(bob.user.token, { type: 'bearer' });
      const res = await post(`/admin/wallets/${bob.wallet.id.toUpperCase()}/deposits`, admin.token, {
        amount: '2',
        currency: 'USD',
      }).expect(201);
      expect(res.body.destinationWalletId).toBe(bob.wallet.id);
      const after = await request(t.server).get(`${API}/wallets/me`).auth(bob.user.token, { type: 'bearer' });
      expect(Number(after.body.version)).toBe(Number(before.body.version) + 1);
    });

    it("refuses a transfer to one's own wallet named in upper case with 422 SAME_WALLET", async () => {
      const before = await balancesSnapshot(t);
      const res = await post('/transfers', alice.user.token, {
        toWalletId: alice.wallet.id.toUpperCase(),
        amount: '1',
        currency: 'USD',
      });
      expect([res.status, res.body.code]).toEqual([422, 'SAME_WALLET']);
      expect(await balancesSnapshot(t)).toEqual(before);
    });

    it('transfers to a wallet named in upper case, and a retry in lower case replays it', async () => {
      const key = randomUUID();
      const body = { toWalletId: bob.wallet.id.toUpperCase(), amount: '1', currency: 'USD' };
      const first = await post('/transfers', alice.user.token, body, key).expect(201);
      expect(first.body.destinationWalletId).toBe(bob.wallet.id);
      const before = await balancesSnapshot(t);
      const retry = await post('/transfers', alice.user.token, { ...body, toWalletId: bob.wallet.id }, key);
      expect([retry.status, retry.body.id, retry.headers['idempotent-replayed']]).toEqual([
        201,
        first.body.id,
        'true',
      ]);
      expect(await balancesSnapshot(t)).toEqual(before);
    });

    it('reads a transfer, captures a hold and sets a status with ids in upper case', async () => {
      const hold = await post('/transfers', alice.user.token, {
        toWalletId: bob.wallet.id,
        amount: '3',
        currency: 'USD',
        hold: true,
      }).expect(201);
      const id = (hold.body.id as string).toUpperCase();
      const got = await request(t.server)
        .get(`${API}/transfers/${id}`)
        .auth(alice.user.token, { type: 'bearer' })
        .expect(200);
      expect(got.body.id).toBe(hold.body.id);
      const captured = await post(`/transfers/${id}/capture`, bob.user.token, { amount: '2' }).expect(200);
      expect([captured.body.status, captured.body.amount]).toEqual(['COMPLETED', '2.0000']);
      const carol = await createUser(t);
      const patched = await request(t.server)
        .patch(`${API}/admin/users/${carol.id.toUpperCase()}/status`)
        .auth(admin.token, { type: 'bearer' })
        .send({ status: 'SUSPENDED' })
        .expect(200);
      expect([patched.body.id, patched.body.status]).toEqual([carol.id, 'SUSPENDED']);
    });
  });

  describe('CORS', () => {
    it('lets a browser console preflight a PATCH with the API headers', async () => {
      const res = await request(t.server)
        .options(`${API}/admin/users/${bob.user.id}/status`)
        .set('Origin', CONSOLE)
        .set('Access-Control-Request-Method', 'PATCH')
        .set('Access-Control-Request-Headers', 'authorization, content-type, idempotency-key, x-request-id');
      expect(res.status).toBeLessThan(300);
      expect(res.headers['access-control-allow-origin']).toBe(CONSOLE);
      const methods = String(res.headers['access-control-allow-methods']).split(/\s*,\s*/);
      for (const m of ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE']) expect(methods).toContain(m);
      const allowed = String(res.headers['access-control-allow-headers'])
        .toLowerCase()
        .split(/\s*,\s*/);
      for (const h of ['authorization', 'content-type', 'idempotency-key', 'x-request-id'])
        expect(allowed).toContain(h);
    });

    it('exposes the headers a client reads on a real request from an allowed origin', async () => {
      const key = randomUUID();
      const body = { amount: '1', currency: 'USD' };
      const send = () =>
        request(t.server)
          .post(`${API}/admin/wallets/${bob.wallet.id}/deposits`)
          .set('Origin', CONSOLE)
          .auth(admin.token, { type: 'bearer' })
          .set('Idempotency-Key', key)
          .send(body);
      await send().expect(201);
      const replay = await send().expect(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.headers['access-control-allow-origin']).toBe(CONSOLE);
      const exposed = String(replay.headers['access-control-expose-headers'])
        .toLowerCase()
        .split(/\s*,\s*/);
      for (const h of ['x-request-id', 'idempotent-replayed', 'retry-after']) expect(exposed).toContain(h);
    });

    it('gives a disallowed origin no CORS allow header, on a preflight or a request', async () => {
      const pre = await request(t.server)
        .options(`${API}/admin/users/${bob.user.id}/status`)
        .set('Origin', 'https://evil.example.com')
        .set('Access-Control-Request-Method', 'PATCH');
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      const get = await request(t.server)
        .get(`${API}/users/me`)
        .set('Origin', 'https://evil.example.com')
        .auth(alice.user.token, { type: 'bearer' })
        .expect(200);
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    });
  });
});
