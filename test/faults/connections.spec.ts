import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Client } from 'pg';
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

  it('answers 503 at once while outside sessions hold every connection slot of the server, and recovers by itself', async () => {
    const since = await lastSeq(pg);
    // Take every slot, then drop the service's pooled connections and take the slots they free, until the
    // service holds none: its background jobs (event sequencer, relays) reconnect at any moment, so one
    // pass of terminate-then-fill could leave it a connection it opened in between.
    const admin = pg.client();
    await admin.connect();
    const held: Client[] = [admin];
    const fill = async () => {
      for (;;) {
        const c = pg.client();
        const ok = await c.connect().then(
          () => true,
          () => false,
        );
        if (!ok) return;
        held.push(c);
        if (held.length > 1000) throw new Error('the server accepts unbounded connections?');
      }
    };
    for (let round = 0; ; round++) {
      await fill();
      const { rows } = await admin.query<{ n: string }>(
        `SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE application_name = 'hfts'`,
      );
      if (rows[0].n === '0') break;
      if (round > 50) throw new Error('the service kept its connections');
      await sleep(50);
    }
    const outcomes: Outcome[] = [];
    try {
      const answers = await Promise.all(
        [0, 1, 2].map((w) => client.transferOnce(users[w].token, users[w + 1].wallet, '0.0100', outcomes)),
      );
      process.stdout.write(
        `server full (${held.length} outside sessions): ${answers.map((a) => `${a.status} in ${a.waited} ms`).join(', ')}\n`,
      );
      for (const a of answers) {
        expect(a.status).toBe(503);
        expect(a.body.code).toBe('SERVICE_UNAVAILABLE');
        expect(Number(a.retryAfter)).toBeGreaterThan(0);
        // Bounded, not fast: the driver gives up within the connect timeout (1.5 s here); an unbounded
        // wait would end only at the client's own 15 s abort (status 0).
        expect(a.waited).toBeLessThan(10_000);
      }
      expect(await status(`${service.url}/health/ready`)).toBe(503);
      expect(await status(`${service.url}/health/live`)).toBe(200);
    } finally {
      await Promise.all(held.map((c) => c.end().catch(() => undefined)));
    }
    // No restart: the next request opens new connections.
    let after = 0;
    for (let i = 0; i < 50 && after !== 201; i++) {
      after = (await client.transferOnce(users[0].token, users[1].wallet, '0.0100', outcomes)).status;
      if (after !== 201) await sleep(100);
    }
    expect(after).toBe(201);
    await checkInvariants(pg, outcomes, since);
  });

  it('answers 503 within the connect timeout when every pooled connection is busy, and finishes the busy ones', async () => {
    const since = await lastSeq(pg);
    // A pool of 2, both connections stuck behind row locks held from outside (lock_timeout 8 s),
    // and a third transfer between free wallets that has no connection to run on.
    const small = new Service(pg, {
      DB_POOL_SIZE: '2',
      DB_CONNECT_TIMEOUT_MS: '1000',
      DB_LOCK_TIMEOUT_MS: '8000',
    });
    await small.start();
    const api = new Client2(() => small.url);
    const { users: more } = await setUp(api, 2);
    const locker = pg.client();
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM wallets WHERE id IN ($1, $2) FOR UPDATE', [
      users[1].wallet,
      users[3].wallet,
    ]);
    const outcomes: Outcome[] = [];
    const send = (token: string, to: string) => api.transferOnce(token, to, '0.0100', outcomes);
    try {
      const stuck = [send(users[0].token, users[1].wallet), send(users[2].token, users[3].wallet)];
      await sleep(300);
      const starved = await send(more[0].token, more[1].wallet);
      await locker.query('ROLLBACK');
      const finished = await Promise.all(stuck);
      process.stdout.write(
        `pool busy: free pair got ${starved.status} ${String(starved.body.code)} in ${starved.waited} ms; ` +
          `the stuck ones ${finished.map((f) => `${f.status} in ${f.waited} ms`).join(', ')}\n`,
      );
      expect(starved.status).toBe(503);
      expect(Number(starved.retryAfter)).toBeGreaterThan(0);
      expect(starved.waited).toBeLessThan(8_000); // gave up on the pool, not on the 8 s lock wait
      expect(finished.map((f) => f.status)).toEqual([201, 201]);
      expect((await send(more[0].token, more[1].wallet)).status).toBe(201);
    } finally {
      await locker.end().catch(() => undefined);
      small.signal('SIGTERM');
      await small.exit;
    }
    await checkInvariants(pg, outcomes, since);
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
      const transferOnce = () => api.transferOnce(users[2].token, users[3].wallet, '0.0100', done);
      expect((await transferOnce()).status).toBe(201);
      redis.kill('SIGKILL');
      await sleep(500);
      expect((await transferOnce()).status).toBe(201);
      // Rate limiting fails open without Redis, so readiness stays 200 and reports Redis down.
      const ready = await fetch(`${withRedis.url}/health/ready`);
      expect(ready.status).toBe(200);
      const body = (await ready.json()) as { details: { redis?: { status: string } } };
      expect(body.details.redis?.status).toBe('down');
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
