import { randomUUID } from 'node:crypto';
import type { Server, ServerResponse } from 'node:http';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { startTestApp, TEST_SECRET, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';

/**
 * Records every response body the server sends, whoever asked (the tests or the factories), so the suite
 * can assert at the end that no password or hash ever left the service.
 */
function recordResponses(server: Server, bodies: string[]): void {
  server.prependListener('request', (_req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    const keep = (chunk: unknown): void => {
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk);
      return write(chunk, ...rest);
    }) as ServerResponse['write'];
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      keep(chunk);
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      return end(chunk, ...rest);
    }) as ServerResponse['end'];
  });
}

const api = '/api/v1';
const PASSWORD = 'correct horse battery staple';
/** Every password this file sends; none may ever appear in a response. */
const passwordsUsed = new Set<string>([PASSWORD]);
const pw = (p: string): string => {
  passwordsUsed.add(p);
  return p;
};

describe('users and authentication', () => {
  let t: TestApp;
  let admin: TestUser;
  const bodies: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    recordResponses(t.server, bodies);
    admin = await createUser(t, { role: 'ADMIN' });
  });

  afterAll(async () => {
    await t.close();
  });

  const register = (body: Record<string, unknown>) =>
    request(t.server).post(`${api}/auth/register`).send(body);
  const login = (email: string, password: string) =>
    request(t.server).post(`${api}/auth/login`).send({ email, password });
  const me = (token: string) => request(t.server).get(`${api}/users/me`).auth(token, { type: 'bearer' });
  const setStatus = (token: string, id: string, status: unknown) =>
    request(t.server)
      .patch(`${api}/admin/users/${id}/status`)
      .auth(token, { type: 'bearer' })
      .send({ status });
  const uniqueEmail = (tag: string): string =>
    `${tag}-${Math.random().toString(36).slice(2, 10)}@example.com`;

  describe('register, login, me', () => {
    it('registers a user, logs in and reads /users/me with exactly the contract fields', async () => {
      const email = uniqueEmail('ada');
      const reg = await register({
        email: `  ${email.toUpperCase()} `,
        password: pw(PASSWORD),
        fullName: ' Ada Lovelace ',
      });
      expect(reg.status).toBe(201);
      expect(Object.keys(reg.body).sort()).toEqual([
        'createdAt',
        'email',
        'fullName',
        'id',
        'role',
        'status',
        'updatedAt',
      ]);
      expect(reg.body).toMatchObject({ email, fullName: 'Ada Lovelace', status: 'ACTIVE', role: 'USER' });
      expect(new Date(reg.body.createdAt).toISOString()).toBe(reg.body.createdAt);

      const res = await login(email.toUpperCase(), PASSWORD);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });

      const mine = await me(res.body.accessToken).expect(200);
      expect(mine.body).toEqual(reg.body);
      const row = await t.sql.query<{ email: string; password_hash: string }>(
        `SELECT email, password_hash FROM users WHERE id = $1`,
        [reg.body.id],
      );
      expect(row.rows[0].email).toBe(email);
      expect(row.rows[0].password_hash).toMatch(/^\$2[ab]\$10\$/);
    });

    it('signs HS256 tokens carrying exactly sub, email, role, iat, exp, iss and aud', async () => {
      const user = await createUser(t);
      const decoded = jwt.decode(user.token, { complete: true });
      expect(decoded?.header).toEqual({ alg: 'HS256', typ: 'JWT' });
      const payload = decoded?.payload as Record<string, unknown>;
      expect(Object.keys(payload).sort()).toEqual(['aud', 'email', 'exp', 'iat', 'iss', 'role', 'sub']);
      expect(payload).toMatchObject({
        sub: user.id,
        email: user.email,
        role: 'USER',
        iss: 'hfts',
        aud: 'hfts-api',
      });
      expect((payload.exp as number) - (payload.iat as number)).toBe(900);
    });

    it('refuses a second registration of an email in another case with 409 EMAIL_TAKEN', async () => {
      const email = uniqueEmail('dup');
      await register({ email, password: PASSWORD, fullName: 'First' }).expect(201);
      const again = await register({ email: email.toUpperCase(), password: PASSWORD, fullName: 'Second' });
      expect(again.status).toBe(409);
      expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(again.body).toMatchObject({ status: 409, code: 'EMAIL_TAKEN' });
      const count = await t.sql.query(`SELECT 1 FROM users WHERE email = $1`, [email]);
      expect(count.rowCount).toBe(1);
    });

    it('refuses a malformed email, a missing full name and fields that are not assignable', async () => {
      const bad = await register({ email: 'not-an-email', password: PASSWORD, fullName: 'X' });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('VALIDATION_FAILED');
      expect(bad.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'email' })]));
      const noName = await register({ email: uniqueEmail('noname'), password: PASSWORD, fullName: '   ' });
      expect(noName.status).toBe(400);
      const email = uniqueEmail('role');
      const selfPromoted = await register({
        email,
        password: PASSWORD,
        fullName: 'Mallory',
        role: 'ADMIN',
        status: 'ACTIVE',
      });
      expect(selfPromoted.status).toBe(400);
      expect(selfPromoted.body.errors).toEqual(
        expect.arrayContaining([
          { field: 'role', message: 'is not an accepted field' },
          { field: 'status', message: 'is not an accepted field' },
        ]),
      );
      expect((await t.sql.query(`SELECT 1 FROM users WHERE email = $1`, [email])).rowCount).toBe(0);
    });
  });

  describe('password rules', () => {
    it('refuses a password of 7 characters and accepts one of 8', async () => {
      const short = await register({
        email: uniqueEmail('short'),
        password: pw('abcdefg'),
        fullName: 'Short',
      });
      expect(short.status).toBe(400);
      expect(short.body.errors).toEqual([
        { field: 'password', message: 'password must be at least 8 characters long' },
      ]);
      await register({ email: uniqueEmail('eight'), password: pw('abcdefgh'), fullName: 'Eight' }).expect(
        201,
      );
    });

    it('counts characters, not UTF-16 units: 7 emoji are too short', async () => {
      const emoji = pw('😀'.repeat(7)); // 14 UTF-16 units, 28 bytes, 7 characters
      const res = await register({ email: uniqueEmail('emoji'), password: emoji, fullName: 'Emoji' });
      expect(res.status).toBe(400);
    });

    it('accepts exactly 72 UTF-8 bytes and refuses a 73-byte multi-byte password', async () => {
      const p72 = pw('é'.repeat(36)); // 36 characters, 72 bytes
      const p73 = pw(`${'é'.repeat(36)}a`); // 37 characters, 73 bytes
      expect(Buffer.byteLength(p72)).toBe(72);
      expect(Buffer.byteLength(p73)).toBe(73);
      const refused = await register({ email: uniqueEmail('p73'), password: p73, fullName: 'Long' });
      expect(refused.status).toBe(400);
      expect(refused.body.errors).toEqual([
        { field: 'password', message: 'password must be at most 72 bytes in UTF-8' },
      ]);
      const refusedEmoji = await register({
        email: uniqueEmail('p76'),
        password: pw('😀'.repeat(19)),
        fullName: 'Long',
      });
      expect(refusedEmoji.status).toBe(400);

      const email = uniqueEmail('p72');
      await register({ email, password: p72, fullName: 'Exact' }).expect(201);
      await login(email, p72).expect(200);
    });

    it('never truncates: a login with the stored 72 bytes plus one more is refused, not let in', async () => {
      // bcrypt itself compares only the first 72 bytes, so without the length check this would log in.
      const p72 = pw('x'.repeat(72));
      const email = uniqueEmail('trunc');
      await register({ email, password: p72, fullName: 'Trunc' }).expect(201);
      const res = await login(email, pw(`${p72}y`));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.accessToken).toBeUndefined();
    });
  });

  describe('login refusals', () => {
    it('answers an unknown email and a wrong password with the same status and body', async () => {
      const user = await createUser(t);
      const unknown = await login(uniqueEmail('nobody'), pw('some password 1'));
      const wrong = await login(user.email, pw('some password 2'));
      expect(unknown.status).toBe(401);
      expect(wrong.status).toBe(401);
      expect(unknown.headers['content-type']).toBe(wrong.headers['content-type']);
      const { requestId: id1, ...a } = unknown.body as Record<string, unknown>;
      const { requestId: id2, ...b } = wrong.body as Record<string, unknown>;
      expect(id1).not.toBe(id2);
      expect(a).toEqual(b);
      expect(a).toMatchObject({ status: 401, code: 'INVALID_CREDENTIALS' });
    });

    it('refuses a login without a password or with a non-string one', async () => {
      expect(
        (await request(t.server).post(`${api}/auth/login`).send({ email: 'a@example.com' })).status,
      ).toBe(400);
      expect(
        (
          await request(t.server)
            .post(`${api}/auth/login`)
            .send({ email: 'a@example.com', password: 12345678 })
        ).status,
      ).toBe(400);
    });
  });

  describe('JWT verification', () => {
    let user: TestUser;
    beforeAll(async () => {
      user = await createUser(t);
    });

    const claims = () => ({ sub: user.id, email: user.email, role: 'USER' });
    const good = { algorithm: 'HS256' as const, expiresIn: 300, issuer: 'hfts', audience: 'hfts-api' };
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

    async function expectRefused(token: string): Promise<void> {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    }

    it('accepts a token crafted with the right key, algorithm, issuer and audience (the control case)', async () => {
      await me(jwt.sign(claims(), TEST_SECRET, good)).expect(200);
    });

    it('refuses a token signed with another HMAC algorithm (HS512)', async () => {
      await expectRefused(jwt.sign(claims(), TEST_SECRET, { ...good, algorithm: 'HS512' }));
    });

    it('refuses alg "none"', async () => {
      const now = Math.floor(Date.now() / 1000);
      const payload = { ...claims(), iat: now, exp: now + 300, iss: 'hfts', aud: 'hfts-api' };
      await expectRefused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`);
      await expectRefused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}`);
    });

    it('refuses a token without exp', async () => {
      const { expiresIn: _e, ...noExp } = good;
      const token = jwt.sign(claims(), TEST_SECRET, noExp);
      expect((jwt.decode(token) as Record<string, unknown>).exp).toBeUndefined();
      await expectRefused(token);
    });

    it('refuses a wrong issuer and a wrong audience', async () => {
      await expectRefused(jwt.sign(claims(), TEST_SECRET, { ...good, issuer: 'someone-else' }));
      await expectRefused(jwt.sign(claims(), TEST_SECRET, { ...good, audience: 'another-api' }));
      const { issuer: _i, ...noIssuer } = good;
      await expectRefused(jwt.sign(claims(), TEST_SECRET, noIssuer));
    });

    it('refuses a bad signature: another key, or a payload changed after signing', async () => {
      await expectRefused(jwt.sign(claims(), `${TEST_SECRET}-not`, good));
      const [header, , signature] = jwt.sign(claims(), TEST_SECRET, good).split('.');
      const now = Math.floor(Date.now() / 1000);
      const forged = b64({
        ...claims(),
        role: 'ADMIN',
        iat: now,
        exp: now + 300,
        iss: 'hfts',
        aud: 'hfts-api',
      });
      await expectRefused(`${header}.${forged}.${signature}`);
    });

    it('refuses an expired token and one not valid yet', async () => {
      const now = Math.floor(Date.now() / 1000);
      const { expiresIn: _e, ...base } = good;
      const expired = await me(jwt.sign({ ...claims(), iat: now - 600, exp: now - 60 }, TEST_SECRET, base));
      expect(expired.status).toBe(401);
      expect(expired.body.detail).toMatch(/expired/);
      await expectRefused(jwt.sign(claims(), TEST_SECRET, { ...good, notBefore: 120 }));
    });

    it('refuses a token passed in the query string instead of the Authorization header', async () => {
      for (const name of ['access_token', 'token', 'auth_token', 'jwt']) {
        const res = await request(t.server).get(`${api}/users/me?${name}=${encodeURIComponent(user.token)}`);
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('UNAUTHENTICATED');
      }
    });

    it('refuses a missing or malformed Authorization header and a token for a user that does not exist', async () => {
      expect((await request(t.server).get(`${api}/users/me`)).status).toBe(401);
      expect(
        (await request(t.server).get(`${api}/users/me`).set('Authorization', `Basic ${user.token}`)).status,
      ).toBe(401);
      expect(
        (await request(t.server).get(`${api}/users/me`).set('Authorization', 'Bearer not.a.jwt')).status,
      ).toBe(401);
      await expectRefused(
        jwt.sign({ ...claims(), sub: '00000000-0000-4000-8000-000000000000' }, TEST_SECRET, good),
      );
      await expectRefused(jwt.sign({ ...claims(), sub: 'not-a-uuid' }, TEST_SECRET, good));
    });
  });

  describe('account status', () => {
    it('suspending a user refuses their login (403) and their existing token (403 ACCOUNT_INACTIVE)', async () => {
      const user = await createUser(t);
      await me(user.token).expect(200);

      const res = await setStatus(admin.token, user.id, 'SUSPENDED');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: user.id, status: 'SUSPENDED' });
      expect(Object.keys(res.body).sort()).toEqual([
        'createdAt',
        'email',
        'fullName',
        'id',
        'role',
        'status',
        'updatedAt',
      ]);

      const old = await me(user.token);
      expect(old.status).toBe(403);
      expect(old.body).toMatchObject({ status: 403, code: 'ACCOUNT_INACTIVE' });
      // Any protected route, the money-moving ones included: the guard refuses before the handler runs.
      const wallet = await request(t.server)
        .post(`${api}/wallets`)
        .auth(user.token, { type: 'bearer' })
        .send({ currency: 'USD' });
      expect(wallet.status).toBe(403);
      expect(wallet.body.code).toBe('ACCOUNT_INACTIVE');

      const again = await login(user.email, user.password);
      expect(again.status).toBe(403);
      expect(again.body.code).toBe('ACCOUNT_INACTIVE');
      expect(again.body.accessToken).toBeUndefined();
      // The status is told only to whoever knows the password: a wrong one is still plain 401.
      const guessed = await login(user.email, pw('not the password'));
      expect(guessed.status).toBe(401);
      expect(guessed.body.code).toBe('INVALID_CREDENTIALS');

      await setStatus(admin.token, user.id, 'ACTIVE').expect(200);
      await login(user.email, user.password).expect(200);
    });

    it("a suspended user's old token moves no money", async () => {
      const sender = await fundedUser(t, admin, '100');
      const receiver = await fundedUser(t, admin, '0');
      await setStatus(admin.token, sender.user.id, 'SUSPENDED').expect(200);
      const transfer = await request(t.server)
        .post(`${api}/transfers`)
        .auth(sender.user.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send({ toWalletId: receiver.wallet.id, amount: '10', currency: 'USD' });
      // The transfer engine checks the status inside its own write: the contract's 422 ACCOUNT_INACTIVE,
      // recorded as a FAILED transaction.
      expect(transfer.status).toBe(422);
      expect(transfer.body.code).toBe('ACCOUNT_INACTIVE');
      const failed = await t.sql.query(`SELECT status, failure_reason FROM transactions WHERE id = $1`, [
        transfer.body.transactionId,
      ]);
      expect(failed.rows).toEqual([{ status: 'FAILED', failure_reason: 'ACCOUNT_INACTIVE' }]);
      const withdrawal = await request(t.server)
        .post(`${api}/wallets/me/withdrawals`)
        .auth(sender.user.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send({ amount: '10', currency: 'USD' });
      expect(withdrawal.status).toBe(422);
      expect(withdrawal.body.code).toBe('ACCOUNT_INACTIVE');
      const balances = await t.sql.query<{ id: string; balance: string }>(
        `SELECT id, balance FROM wallets WHERE id = ANY($1)`,
        [[sender.wallet.id, receiver.wallet.id]],
      );
      expect(Object.fromEntries(balances.rows.map((r) => [r.id, r.balance]))).toEqual({
        [sender.wallet.id]: '100.0000',
        [receiver.wallet.id]: '0.0000',
      });
    });

    it('a CLOSED user cannot log in either', async () => {
      const user = await createUser(t);
      await setStatus(admin.token, user.id, 'CLOSED').expect(200);
      const res = await login(user.email, user.password);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('ACCOUNT_INACTIVE');
      expect((await me(user.token)).status).toBe(403);
    });

    describe('on a second instance of the service, without the status cache', () => {
      let other: TestApp;
      beforeAll(async () => {
        other = await startTestApp({ USER_STATUS_CACHE_MS: '0' }, t.db);
        recordResponses(other.server, bodies);
      });
      afterAll(async () => {
        await other.close();
      });
      const otherMe = (token: string) =>
        request(other.server).get(`${api}/users/me`).auth(token, { type: 'bearer' });

      it('refuses the old token of a user suspended through the first instance', async () => {
        const user = await createUser(t);
        await otherMe(user.token).expect(200);
        await setStatus(admin.token, user.id, 'SUSPENDED').expect(200);
        const res = await otherMe(user.token);
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('ACCOUNT_INACTIVE');
      });

      it('takes the role from the database, so a demoted admin loses admin rights with the token they hold', async () => {
        const demoted = await createUser(t, { role: 'ADMIN' });
        const target = await createUser(t);
        const path = `${api}/admin/users/${target.id}/status`;
        await request(other.server)
          .patch(path)
          .auth(demoted.token, { type: 'bearer' })
          .send({ status: 'ACTIVE' })
          .expect(200);
        await t.sql.query(`UPDATE users SET role = 'USER' WHERE id = $1`, [demoted.id]);
        const res = await request(other.server)
          .patch(path)
          .auth(demoted.token, { type: 'bearer' })
          .send({ status: 'SUSPENDED' });
        expect(res.status).toBe(403);
        expect(res.body.code).toBe('FORBIDDEN');
      });
    });
  });

  describe('admin status endpoint', () => {
    it('refuses a non-admin with 403 FORBIDDEN and changes nothing', async () => {
      const user = await createUser(t);
      const victim = await createUser(t);
      const res = await setStatus(user.token, victim.id, 'SUSPENDED');
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      const row = await t.sql.query<{ status: string }>(`SELECT status FROM users WHERE id = $1`, [
        victim.id,
      ]);
      expect(row.rows[0].status).toBe('ACTIVE');
    });

    it('refuses an anonymous caller with 401', async () => {
      const res = await request(t.server)
        .patch(`${api}/admin/users/${admin.id}/status`)
        .send({ status: 'SUSPENDED' });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('UNAUTHENTICATED');
    });

    it('answers a malformed id with 400, an unknown one with 404 USER_NOT_FOUND, a bad status with 400', async () => {
      const malformed = await setStatus(admin.token, 'not-a-uuid', 'SUSPENDED');
      expect(malformed.status).toBe(400);
      expect(malformed.body.code).toBe('VALIDATION_FAILED');
      const unknown = await setStatus(admin.token, '00000000-0000-4000-8000-000000000000', 'SUSPENDED');
      expect(unknown.status).toBe(404);
      expect(unknown.body.code).toBe('USER_NOT_FOUND');
      const user = await createUser(t);
      for (const status of ['DELETED', 'active', '', null, 1]) {
        const res = await setStatus(admin.token, user.id, status);
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('VALIDATION_FAILED');
      }
      const withRole = await request(t.server)
        .patch(`${api}/admin/users/${user.id}/status`)
        .auth(admin.token, { type: 'bearer' })
        .send({ status: 'ACTIVE', role: 'ADMIN' });
      expect(withRole.status).toBe(400);
      const row = await t.sql.query<{ role: string }>(`SELECT role FROM users WHERE id = $1`, [user.id]);
      expect(row.rows[0].role).toBe('USER');
    });
  });

  describe('documentation', () => {
    it('documents every auth and user endpoint with schemas, error statuses and the bearer scheme', async () => {
      const doc = (await request(t.server).get('/docs-json').expect(200)).body as {
        paths: Record<
          string,
          Record<string, { security?: unknown[]; responses: Record<string, unknown>; requestBody?: unknown }>
        >;
        components: { schemas: Record<string, unknown> };
      };
      const registerOp = doc.paths['/api/v1/auth/register'].post;
      const loginOp = doc.paths['/api/v1/auth/login'].post;
      const meOp = doc.paths['/api/v1/users/me'].get;
      const statusOp = doc.paths['/api/v1/admin/users/{id}/status'].patch;
      expect(Object.keys(registerOp.responses)).toEqual(expect.arrayContaining(['201', '400', '409', '429']));
      expect(Object.keys(loginOp.responses)).toEqual(
        expect.arrayContaining(['200', '400', '401', '403', '429']),
      );
      expect(Object.keys(meOp.responses)).toEqual(expect.arrayContaining(['200', '401', '403']));
      expect(Object.keys(statusOp.responses)).toEqual(
        expect.arrayContaining(['200', '400', '401', '403', '404']),
      );
      expect(registerOp.requestBody).toBeDefined();
      expect(statusOp.requestBody).toBeDefined();
      expect(registerOp.security).toEqual([]); // public: explicitly no security scheme
      expect(meOp.security).toEqual([{ bearer: [] }]);
      expect(statusOp.security).toEqual([{ bearer: [] }]);
      expect(Object.keys(doc.components.schemas)).toEqual(
        expect.arrayContaining(['RegisterDto', 'LoginDto', 'TokenDto', 'UserDto', 'UpdateUserStatusDto']),
      );
    });
  });

  describe('response scan', () => {
    it('no response body in this suite carried a password, a password hash or its column name', () => {
      expect(bodies.length).toBeGreaterThan(50);
      expect(bodies.some((b) => b.includes('"accessToken"'))).toBe(true);
      for (const body of bodies) {
        expect(body).not.toMatch(/\$2[abxy]\$\d\d\$/);
        expect(body).not.toMatch(/password_?hash/i);
        for (const password of passwordsUsed) expect(body).not.toContain(password);
      }
    });
  });
});
