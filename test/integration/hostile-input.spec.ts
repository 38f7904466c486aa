import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';
import { balancesSnapshot, expectLedgerConsistent } from '../support/ledger-checks';

const API = '/api/v1';

describe('hostile input', () => {
  let t: TestApp;
  let admin: TestUser;
  let alice: { user: TestUser; wallet: { id: string } };
  let bob: { user: TestUser; wallet: { id: string } };
  const bodies: string[] = [];

  /** Every response of this file is kept and scanned at the end for things that must never leak. */
  const keep = (res: request.Response): request.Response => {
    bodies.push(res.text ?? '');
    return res;
  };

  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'ADMIN' });
    alice = await fundedUser(t, admin, '100');
    bob = await fundedUser(t, admin, '0');
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  /** A request with a method chosen at run time. */
  const call = (method: string, url: string): request.Test => {
    const agent = request(t.server);
    return agent[method as 'get'](url);
  };

  const post = (path: string, body: unknown, token?: string, contentType = 'application/json') => {
    const req = request(t.server)
      .post(`${API}${path}`)
      .set('Idempotency-Key', randomUUID())
      .set('Content-Type', contentType);
    if (token) void req.auth(token, { type: 'bearer' });
    return req.send(typeof body === 'string' ? body : JSON.stringify(body));
  };

  it('refuses bodies over the limit with 413 and moves nothing', async () => {
    const before = await balancesSnapshot(t);
    const res = keep(
      await post(
        '/transfers',
        { toWalletId: bob.wallet.id, amount: '1', currency: 'USD', description: 'x'.repeat(20000) },
        alice.user.token,
      ),
    );
    expect([res.status, res.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(await balancesSnapshot(t)).toEqual(before);
  });

  it('refuses malformed and deeply nested JSON with 400', async () => {
    for (const raw of ['{', '{"amount": }', 'null', '[]', '"x"', '{"a":1}{"b":2}']) {
      const res = keep(await post('/transfers', raw, alice.user.token));
      expect(res.status).toBe(400);
    }
    const deep = `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`;
    const res = keep(await post('/transfers', deep, alice.user.token));
    expect(res.status).toBe(400);
  });

  it('refuses a wrong content type with 400', async () => {
    const res = keep(
      await post(
        '/transfers',
        'toWalletId=x&amount=1',
        alice.user.token,
        'application/x-www-form-urlencoded',
      ),
    );
    expect(res.status).toBe(400);
    const text = keep(await post('/transfers', 'hello', alice.user.token, 'text/plain'));
    expect(text.status).toBe(400);
  });

  it.each([
    ['/transfers', { balance: '1000' }],
    ['/transfers', { version: 1 }],
    ['/transfers', { status: 'COMPLETED' }],
    ['/transfers', { userId: randomUUID() }],
    ['/transfers', { sourceWalletId: randomUUID() }],
    ['/wallets/me/withdrawals', { role: 'ADMIN' }],
    ['/wallets/me/withdrawals', { balance: '0' }],
  ])('refuses the read-only or unknown field in %s %p with 400, never assigning it', async (path, extra) => {
    const before = await balancesSnapshot(t);
    const body =
      path === '/transfers'
        ? { toWalletId: bob.wallet.id, amount: '1', currency: 'USD', ...extra }
        : { amount: '1', currency: 'USD', ...extra };
    const res = keep(await post(path, body, alice.user.token));
    expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(await balancesSnapshot(t)).toEqual(before);
  });

  it('refuses role, status and id in registration', async () => {
    for (const extra of [{ role: 'ADMIN' }, { status: 'ACTIVE' }, { id: randomUUID() }]) {
      const res = keep(
        await request(t.server)
          .post(`${API}/auth/register`)
          .send({
            email: `${randomUUID()}@example.com`,
            password: 'long enough password',
            fullName: 'X',
            ...extra,
          }),
      );
      expect(res.status).toBe(400);
    }
  });

  it('refuses huge query strings without a 5xx', async () => {
    const res = keep(
      await request(t.server)
        .get(`${API}/wallets/me/transactions`)
        .query({ junk: 'x'.repeat(8000) })
        .auth(alice.user.token, { type: 'bearer' }),
    );
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it('answers every endpoint 401 to an anonymous caller and 403 to a non-admin on admin routes', async () => {
    const id = randomUUID();
    const routes: Array<[string, string]> = [
      ['get', '/users/me'],
      ['post', '/wallets'],
      ['get', '/wallets/me'],
      ['get', '/wallets/me/transactions'],
      ['post', '/wallets/me/withdrawals'],
      ['post', `/admin/wallets/${id}/deposits`],
      ['patch', `/admin/users/${id}/status`],
      ['get', '/admin/reconciliation'],
      ['post', '/transfers'],
      ['get', `/transfers/${id}`],
      ['post', `/transfers/${id}/capture`],
      ['post', `/transfers/${id}/void`],
    ];
    for (const [method, path] of routes) {
      const anon = keep(await call(method, `${API}${path}`).set('Idempotency-Key', randomUUID()).send({}));
      expect([path, anon.status, anon.body.code]).toEqual([path, 401, 'UNAUTHENTICATED']);
    }
    for (const [method, path] of routes.filter(([, p]) => p.startsWith('/admin'))) {
      const res = keep(
        await call(method, `${API}${path}`)
          .auth(alice.user.token, { type: 'bearer' })
          .set('Idempotency-Key', randomUUID())
          .send({}),
      );
      expect([path, res.status]).toEqual([path, 403]);
    }
  });

  it('never answers 500 nor moves money for generated requests to any documented endpoint', async () => {
    const doc = (await request(t.server).get('/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((m) => ['post', 'patch', 'put', 'delete', 'get'].includes(m))
        .map((method) => ({ method, path })),
    );
    const before = await balancesSnapshot(t);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...operations),
        fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }), fc.constant(bob.wallet.id)),
        fc.oneof(
          fc.anything({ maxDepth: 3 }),
          fc.record({
            toWalletId: fc.oneof(fc.uuid(), fc.string(), fc.constant(bob.wallet.id)),
            amount: fc.oneof(fc.string(), fc.double(), fc.constantFrom('1e3', '-1', 'NaN', '0.00001', '')),
            currency: fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('usd', 'XXX', 'EUR')),
            status: fc.string(),
          }),
        ),
        async ({ method, path }, idValue, body) => {
          const url = path.replace(/\{[^}]+\}/g, encodeURIComponent(idValue));
          const res = keep(
            await call(method, url)
              .auth(alice.user.token, { type: 'bearer' })
              .set('Idempotency-Key', randomUUID())
              .set('Content-Type', 'application/json')
              .send(JSON.stringify(body) ?? 'null'),
          );
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
    const after = await balancesSnapshot(t);
    // Generated requests may legitimately move money only when they are valid transfers to Bob; every
    // other wallet must be byte-identical.
    for (const [walletId, state] of Object.entries(before)) {
      if (walletId !== alice.wallet.id && walletId !== bob.wallet.id && walletId !== 'ledgerEntries')
        expect(after[walletId]).toBe(state);
    }
  });

  it('never leaks a stack trace, SQL, a password hash or a token in any response of this file', () => {
    const forbidden = [
      /\n\s+at /,
      /SELECT |INSERT INTO|UPDATE wallets|QueryFailedError/i,
      /\$2[aby]\$/,
      /password_hash/,
      new RegExp(alice.user.token.split('.')[2]),
    ];
    expect(bodies.length).toBeGreaterThan(20);
    for (const body of bodies)
      for (const pattern of forbidden)
        expect([pattern.source, body.match(pattern)]).toEqual([pattern.source, null]);
  });
});
