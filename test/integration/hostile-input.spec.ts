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

  // Contract v1.1: an unsupported Content-Type is 415 UNSUPPORTED_MEDIA_TYPE (it was 400 in v1).
  it('refuses a wrong content type with 415', async () => {
    const before = await balancesSnapshot(t);
    const res = keep(
      await post(
        '/transfers',
        'toWalletId=x&amount=1',
        alice.user.token,
        'application/x-www-form-urlencoded',
      ),
    );
    expect([res.status, res.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const text = keep(await post('/transfers', 'hello', alice.user.token, 'text/plain'));
    expect([text.status, text.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    expect(await balancesSnapshot(t)).toEqual(before);
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
    // Real things for the generated requests to name, so that a request that should be refused but
    // moves money is caught: the wallets (Alice's own among them), a completed transfer, holds Bob can
    // capture or void, a user an admin can suspend.
    const dave = await createUser(t);
    const sent = (body: object) =>
      post('/transfers', body, alice.user.token).then((r) => {
        expect(r.status).toBe(201);
        return (r.body as { id: string }).id;
      });
    const transferIds = [
      await sent({ toWalletId: bob.wallet.id, amount: '1', currency: 'USD' }),
      ...(await Promise.all(
        [1, 2, 3].map(() => sent({ toWalletId: bob.wallet.id, amount: '2', currency: 'USD', hold: true })),
      )),
    ];
    const realIds = [alice.wallet.id, bob.wallet.id, ...transferIds, dave.id];
    const anyCase = (id: string) =>
      fc.oneof(
        fc.constant(id),
        fc.constant(id.toUpperCase()),
        fc
          .array(fc.boolean(), { minLength: id.length, maxLength: id.length })
          .map((upper) => [...id].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('')),
      );
    const ids = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...realIds).chain(anyCase) },
      { weight: 1, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    );
    const amounts = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('1', '0.5', '2', '250', '0.0001') },
      { weight: 2, arbitrary: fc.constantFrom('1e3', '-1', 'NaN', '0.00001', '', '0', ' 1', '１') },
      { weight: 1, arbitrary: fc.oneof(fc.string(), fc.double(), fc.constant(null)) },
    );
    const hostile = fc.oneof(
      ids,
      amounts,
      fc.constantFrom(null, '', 'a\u0000b', '\ud800', '😀', 'x'.repeat(600), 0, -1, 60.5, 1e300, true),
      fc.constantFrom([], {}, ['1'], 'USD', 'usd', 'ACTIVE', 'SUSPENDED'),
      fc.string(),
      fc.anything({ maxDepth: 2 }),
    );
    // A valid body for each operation: requests are sent as it is, with a field or two made hostile (or
    // dropped, or added), so that they get past the first checks; or as anything at all.
    const template = (method: string, path: string): Record<string, unknown> => {
      if (method === 'post' && path.endsWith('/transfers'))
        return { toWalletId: bob.wallet.id, amount: '1', currency: 'USD', description: 'fuzz' };
      if (path.endsWith('/withdrawals') || path.endsWith('/deposits'))
        return { amount: '1', currency: 'USD', reference: 'fuzz' };
      if (path.endsWith('/capture')) return { amount: '1' };
      if (path.endsWith('/status')) return { status: 'ACTIVE' };
      if (path.endsWith('/wallets')) return { currency: 'USD' };
      if (path.endsWith('/register'))
        return { email: 'fuzz@example.com', password: 'long enough password', fullName: 'Fuzz' };
      // Dave's: a token issued to Alice in the same second as hers would equal it, and the last test
      // looks for hers in every response.
      if (path.endsWith('/login')) return { email: dave.email, password: dave.password };
      return {};
    };
    const bodyFor = (method: string, path: string): fc.Arbitrary<unknown> => {
      const base = template(method, path);
      const keys = [...Object.keys(base), 'hold', 'holdExpiresInSeconds', 'toWalletId', 'extra'];
      const mutated = fc
        .array(fc.tuple(fc.constantFrom(...keys), fc.option(hostile, { nil: undefined })), { maxLength: 2 })
        .map((changes) => {
          const body: Record<string, unknown> = { ...base };
          for (const [key, value] of changes) {
            if (value === undefined) delete body[key];
            else body[key] = value;
          }
          return body;
        });
      return fc.oneof(
        { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
        { weight: 5, arbitrary: mutated },
      );
    };
    const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
    const query = fc
      .array(
        fc.tuple(
          fc.constantFrom('limit', 'cursor', 'status', 'type', 'direction', 'from', 'to', 'junk'),
          fc.oneof(
            fc.constantFrom('1', '100', '101', '0', '-1', '1e2', '0100', 'PENDING', 'DEBIT', 'DEPOSIT'),
            fc.constantFrom('2020-01-01', '2020-01-01T10:00:00Z', '2020-W01', '20200101', '2020-02-30'),
            fc.constantFrom('2020-01-01T10', '2020-01-01T10:00:00,5Z', '', cursorOf('s:1')),
            fc.constantFrom(cursorOf('s:9999999999999999999'), cursorOf('s:-1')),
            fc.string({ maxLength: 30 }),
          ),
        ),
        { maxLength: 3 },
      )
      .map((pairs) => new URLSearchParams(pairs).toString());
    const requests = fc
      .constantFrom(...operations)
      .chain((op) => fc.tuple(fc.constant(op), bodyFor(op.method, op.path)));
    const callers = fc.constantFrom(alice.user, bob.user, admin);
    const contentTypes = fc.oneof(
      { weight: 12, arbitrary: fc.constant('application/json') },
      {
        weight: 1,
        arbitrary: fc.constantFrom('text/plain', 'application/xml', 'application/x-www-form-urlencoded'),
      },
    );
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        requests,
        ids,
        query,
        callers,
        contentTypes,
        async ([{ method, path }, generated], idValue, search, caller, contentType) => {
          const url = `${path.replace(/\{[^}]+\}/g, encodeURIComponent(idValue))}${search ? `?${search}` : ''}`;
          const before = await balancesSnapshot(t);
          const res = keep(
            await call(method, url)
              .auth(caller.token, { type: 'bearer' })
              .set('Idempotency-Key', randomUUID())
              .set('Content-Type', contentType)
              .send(JSON.stringify(generated) ?? 'null'),
          );
          expect(res.status).toBeLessThan(500);
          // A valid request may move money (a 2xx); a refused one, or a read, never does.
          if (res.status >= 400 || method === 'get') {
            if (res.status >= 400) refused += 1;
            expect([method, url, res.status, await balancesSnapshot(t)]).toEqual([
              method,
              url,
              res.status,
              before,
            ]);
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(refused).toBeGreaterThan(0);
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
