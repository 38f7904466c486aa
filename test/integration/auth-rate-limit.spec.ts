import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser } from '../support/factories';

/** The real Redis of the machine (or the one named by TEST_REDIS_HOST / TEST_REDIS_PORT). */
const REDIS_HOST = process.env.TEST_REDIS_HOST ?? '127.0.0.1';
const REDIS_PORT = process.env.TEST_REDIS_PORT ?? '6379';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/**
 * A POST from a chosen loopback address (127.0.0.0/8 is all local on Linux), so that tests can play
 * several clients. The app sees it as request.ip, with trustProxy off.
 */
function postFrom(
  port: number,
  localAddress: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        localAddress,
        method: 'POST',
        path,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text || '{}') }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function listen(t: TestApp): Promise<number> {
  await t.app.listen(0, '127.0.0.1');
  return (t.server.address() as AddressInfo).port;
}

function expectRateLimited(res: Reply, maxSeconds: number): void {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
}

const login = '/api/v1/auth/login';
const register = '/api/v1/auth/register';
const email = (tag: string): string => `${tag}-${randomUUID().slice(0, 8)}@example.com`;

describe('rate limiting, in memory', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_AUTH_PER_MINUTE: '3', RATE_LIMIT_USER_PER_SECOND: '2' });
    port = await listen(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('limits logins per account, whichever addresses they come from, then answers 429 with Retry-After', async () => {
    const target = email('victim');
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      expect((await postFrom(port, ip, login, { email: target, password: 'guess guess' })).status).toBe(401);
    }
    // Case and spaces do not make another account.
    const fourth = await postFrom(port, '127.0.0.5', login, {
      email: ` ${target.toUpperCase()}`,
      password: 'guess guess',
    });
    expectRateLimited(fourth, 60);
    // Another account from a fresh address is not affected.
    expect(
      (await postFrom(port, '127.0.0.6', login, { email: email('other'), password: 'guess guess' })).status,
    ).toBe(401);
  });

  it('limits logins per client address, whichever accounts they try', async () => {
    const ip = '127.0.0.10';
    for (let i = 0; i < 3; i++) {
      expect(
        (await postFrom(port, ip, login, { email: email(`spray${i}`), password: 'guess guess' })).status,
      ).toBe(401);
    }
    expectRateLimited(
      await postFrom(port, ip, login, { email: email('spray3'), password: 'guess guess' }),
      60,
    );
    expect(
      (await postFrom(port, '127.0.0.11', login, { email: email('spray4'), password: 'guess guess' })).status,
    ).toBe(401);
  });

  it('limits registrations per client address the same way', async () => {
    const ip = '127.0.0.20';
    for (let i = 0; i < 3; i++) {
      const res = await postFrom(port, ip, register, {
        email: email(`reg${i}`),
        password: 'long enough',
        fullName: 'R',
      });
      expect(res.status).toBe(201);
    }
    const refused = await postFrom(port, ip, register, {
      email: email('reg3'),
      password: 'long enough',
      fullName: 'R',
    });
    expectRateLimited(refused, 60);
  });

  it('limits everything else per user, not globally', async () => {
    const a = await createUser(t);
    const b = await createUser(t);
    const burst = await Promise.all(
      Array.from({ length: 30 }, () =>
        request(t.server).get('/api/v1/users/me').auth(a.token, { type: 'bearer' }),
      ),
    );
    const limited = burst.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(burst.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(limited[0].body).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(limited[0].headers['retry-after'])).toBe(1);
    // Another user is not limited by a's burst.
    await request(t.server).get('/api/v1/users/me').auth(b.token, { type: 'bearer' }).expect(200);
  });

  it('ignores X-Forwarded-For when no proxy is trusted: a client cannot dodge the per-address limit', async () => {
    const ip = '127.0.0.30';
    const from = (n: number) =>
      postFrom(
        port,
        ip,
        login,
        { email: email(`xff${n}`), password: 'guess guess' },
        {
          'x-forwarded-for': `198.51.100.${n}`,
        },
      );
    for (let i = 0; i < 3; i++) expect((await from(i)).status).toBe(401);
    expectRateLimited(await from(3), 60);
  });

  it('does not limit health and metrics', async () => {
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => request(t.server).get('/health/live')),
    );
    expect(replies.every((r) => r.status === 200)).toBe(true);
  });
});

// [TRUST_PROXY, how many proxies' entries of X-Forwarded-For are believed]. `true` believes them all, so
// the left-most address, which the client itself may have written, is taken as the client's.
describe.each([
  ['127.0.0.1', 'one'],
  ['1', 'one'],
  ['10.0.0.0/8, 127.0.0.1/32', 'one'],
  ['true', 'all'],
])('rate limiting behind a load balancer (TRUST_PROXY=%s)', (trustProxy, believed) => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_AUTH_PER_MINUTE: '3', TRUST_PROXY: trustProxy });
    port = await listen(t);
  });
  afterAll(async () => {
    await t.close();
  });

  /** A login relayed by the balancer at 127.0.0.1, which appended `forwardedFor` to the header. */
  const relayed = (forwardedFor: string, n: number) =>
    postFrom(
      port,
      '127.0.0.1',
      login,
      { email: email(`lb${n}`), password: 'guess guess' },
      {
        'x-forwarded-for': forwardedFor,
      },
    );

  it('gives each forwarded client address its own login budget', async () => {
    for (let i = 0; i < 3; i++) expect((await relayed('203.0.113.7', i)).status).toBe(401);
    expectRateLimited(await relayed('203.0.113.7', 3), 60);
    // Another client behind the same balancer is not affected.
    for (let i = 4; i < 7; i++) expect((await relayed('203.0.113.8', i)).status).toBe(401);
    expectRateLimited(await relayed('203.0.113.8', 7), 60);
  });

  it(`believes ${believed === 'one' ? 'only the entry the trusted proxy appended' : 'every entry'}`, async () => {
    // The client wrote 192.0.2.x itself; the balancer appended the address it saw, 203.0.113.9.
    for (let i = 10; i < 13; i++) expect((await relayed(`192.0.2.${i}, 203.0.113.9`, i)).status).toBe(401);
    const fourth = await relayed('192.0.2.13, 203.0.113.9', 13);
    if (believed === 'one') expectRateLimited(fourth, 60);
    else expect(fourth.status).toBe(401);
  });
});

describe('rate limiting behind a load balancer, from an address that is not the trusted proxy', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_AUTH_PER_MINUTE: '3', TRUST_PROXY: '127.0.0.1' });
    port = await listen(t);
  });
  afterAll(async () => {
    await t.close();
  });

  it('counts by the socket address: a client reaching the service directly cannot forge its address', async () => {
    const from = (n: number) =>
      postFrom(
        port,
        '127.0.0.40',
        login,
        { email: email(`direct${n}`), password: 'guess guess' },
        {
          'x-forwarded-for': `198.51.100.${n}`,
        },
      );
    for (let i = 0; i < 3; i++) expect((await from(i)).status).toBe(401);
    expectRateLimited(await from(3), 60);
  });
});

describe('rate limiting, shared through Redis', () => {
  // A prefix of its own per run, so runs (and other test files) never share counters.
  const prefix = `hfts:test:${randomUUID()}:`;
  const env = {
    REDIS_HOST,
    REDIS_PORT,
    RATE_LIMIT_REDIS_PREFIX: prefix,
    RATE_LIMIT_AUTH_PER_MINUTE: '4',
  };
  let a: TestApp;
  let b: TestApp;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis({ host: REDIS_HOST, port: Number(REDIS_PORT), lazyConnect: true });
    await redis.connect();
    a = await startTestApp(env);
    b = await startTestApp(env, a.db);
  });
  afterAll(async () => {
    const keys = await redis.keys(`*${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await b.close();
    await a.close();
  });

  it('two instances count the same account against one limit', async () => {
    const target = email('shared');
    const attempt = (t: TestApp) =>
      request(t.server).post(login).send({ email: target, password: 'guess guess' });
    // Two attempts on each instance: in memory neither would reach the limit of 4.
    for (const t of [a, b, a, b]) expect((await attempt(t)).status).toBe(401);
    const onA = await attempt(a);
    const onB = await attempt(b);
    for (const res of [onA, onB]) {
      expect(res.status).toBe(429);
      expect(res.body.code).toBe('RATE_LIMITED');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // The counters live in Redis under the configured prefix, and no email appears in a key.
    const keys = await redis.keys(`*${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.includes('auth-account'))).toBe(true);
    expect(keys.every((k) => !k.includes('@'))).toBe(true);
  });
});

describe('rate limiting while Redis is down', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A port with nothing listening: Redis is configured but unreachable.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    t = await startTestApp({
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(deadPort),
      RATE_LIMIT_AUTH_PER_MINUTE: '3',
      RATE_LIMIT_USER_PER_SECOND: '1000',
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('still lets users log in and work, and still limits each instance on its own', async () => {
    const user = await createUser(t); // one register and one login
    await request(t.server).get('/api/v1/users/me').auth(user.token, { type: 'bearer' }).expect(200);
    await request(t.server).post(login).send({ email: user.email, password: user.password }).expect(200);
    await request(t.server).post(login).send({ email: user.email, password: user.password }).expect(200);
    const fourth = await request(t.server).post(login).send({ email: user.email, password: user.password });
    expect(fourth.status).toBe(429);
    expect(fourth.body.code).toBe('RATE_LIMITED');
  });
});
