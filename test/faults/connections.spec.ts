import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  buildOnce,
  checkInvariants,
  Client2,
  freePort,
  lastSeq,
  type Outcome,
  Postgres,
  Service,
  setUp,
  sleep,
  status,
} from './support/harness';

/** Faults on connections: killed backends, a row lock held from outside, Redis going away. */
describe('connection faults', () => {
  const pg = new Postgres();
  let service: Service;
  let client: Client2;
  let users: Array<{ token: string; wallet: string }>;

  beforeAll(async () => {
    buildOnce();
    await pg.start();
    service = new Service(pg, { DB_LOCK_TIMEOUT_MS: '1000' });
    await service.start();
    client = new Client2(() => service.url);
    ({ users } = await setUp(client, 4));
  });
  afterAll(async () => {
    service?.signal('SIGKILL');
    await pg.stopFast().catch(() => undefined);
  });

  it('survives pg_terminate_backend on its busy and idle connections', async () => {
    const since = await lastSeq(pg);
    const until = Date.now() + 4000;
    const outcomes: Outcome[] = [];
    const seen: number[] = [];
    const killer = (async () => {
      const admin = pg.client();
      await admin.connect();
      let killed = 0;
      while (Date.now() < until) {
        const { rows } = await admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'hfts' AND pid <> pg_backend_pid()) x`,
        );
        killed += rows[0].n;
        await sleep(400);
      }
      await admin.end();
      return killed;
    })();
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; Date.now() < until; i++) {
          outcomes.push(
            await client.transfer(users[w].token, users[(w + 1) % 4].wallet, '0.0100', until + 20000, seen),
          );
        }
      }),
    );
    const killed = await killer;
    process.stdout.write(`terminated ${killed} backends; statuses seen: ${JSON.stringify(countBy(seen))}\n`);
    expect(killed).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.status === 201).length).toBeGreaterThan(0);
    expect(await status(`${service.url}/health/ready`)).toBe(200);
    await checkInvariants(pg, outcomes, since);
  });

  it('gives up on a wallet locked from another session with 409 or 503, and moves nothing', async () => {
    const since = await lastSeq(pg);
    const locker = pg.client();
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM wallets WHERE id = $1 FOR UPDATE', [users[1].wallet]);
    const started = Date.now();
    const res = await client.call(
      'POST',
      '/transfers',
      users[0].token,
      { toWalletId: users[1].wallet, amount: '1', currency: 'USD' },
      randomUUID(),
    );
    const waited = Date.now() - started;
    await locker.query('ROLLBACK');
    await locker.end();
    process.stdout.write(`locked wallet: ${res.status} ${String(res.body.code)} after ${waited} ms\n`);
    expect([409, 503]).toContain(res.status);
    expect(Number(res.retryAfter)).toBeGreaterThan(0);
    await checkInvariants(pg, [], since);
  });

  it('keeps logins and transfers working when Redis stops (rate limits fail open), and reports it in readiness', async () => {
    const redisPort = await freePort();
    const redis = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const since = await lastSeq(pg);
    const done: Outcome[] = [];
    const withRedis = new Service(pg, {
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(redisPort),
      RATE_LIMIT_USER_PER_SECOND: '1000',
    });
    try {
      await withRedis.start();
      const api = new Client2(() => withRedis.url);
      const transferOnce = async () => {
        const key = randomUUID();
        const body = { toWalletId: users[3].wallet, amount: '0.0100', currency: 'USD' };
        const r = await api.call('POST', '/transfers', users[2].token, body, key);
        done.push({ key, status: r.status, id: r.body.id as string, attempts: 1 });
        return r;
      };
      expect((await transferOnce()).status).toBe(201);
      redis.kill('SIGKILL');
      await sleep(500);
      expect((await transferOnce()).status).toBe(201);
      expect(await status(`${withRedis.url}/health/ready`)).toBe(503);
    } finally {
      redis.kill('SIGKILL');
      withRedis.signal('SIGTERM');
      await withRedis.exit;
    }
    await checkInvariants(pg, done, since);
  });
});

function countBy(values: number[]): Record<number, number> {
  return values.reduce<Record<number, number>>((m, v) => ({ ...m, [v]: (m[v] ?? 0) + 1 }), {});
}
