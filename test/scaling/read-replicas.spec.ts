import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, createWallet, deposit, type TestUser, type TestWallet } from '../support/factories';
import { caughtUp, PgNode } from './support/postgres-cluster';
import { metricTotal } from './support/service-process';

/**
 * Reads from a real streaming replica (PostgreSQL 15, pg_basebackup -R) with POSTGRES_REPLICA_HOSTS set.
 * That a read ran on the replica is shown by pausing its WAL replay (pg_wal_replay_pause): a read from
 * the replica then answers the state from before the pause, a read from the primary the current one.
 */
let primary: PgNode;
let replica: PgNode;
/** Replicas may lag up to a minute here, so that a paused replica still serves. */
let app: TestApp;
let admin: TestUser;
let alice: { user: TestUser; wallet: TestWallet };
let bob: { user: TestUser; wallet: TestWallet };

const REDIS = {
  REDIS_HOST: process.env.TEST_REDIS_HOST ?? '127.0.0.1',
  REDIS_PORT: process.env.TEST_REDIS_PORT ?? '6379',
};

function replicaEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    POSTGRES_REPLICA_HOSTS: replica.address,
    DB_REPLICA_CHECK_INTERVAL_MS: '50',
    DB_REPLICA_MAX_LAG_MS: '60000',
    ...extra,
  };
}

async function balanceOf(t: TestApp, user: TestUser): Promise<string> {
  const res = await request(t.server).get('/api/v1/wallets/me/balance').auth(user.token, { type: 'bearer' });
  expect(res.status).toBe(200);
  return (res.body as { balance: string }).balance;
}

async function statementLength(t: TestApp, user: TestUser): Promise<number> {
  const res = await request(t.server)
    .get('/api/v1/wallets/me/transactions?limit=100')
    .auth(user.token, { type: 'bearer' });
  expect(res.status).toBe(200);
  return (res.body as { items: unknown[] }).items.length;
}

async function csvRows(t: TestApp, user: TestUser): Promise<number> {
  const res = await request(t.server)
    .get('/api/v1/wallets/me/transactions')
    .set('Accept', 'text/csv')
    .auth(user.token, { type: 'bearer' })
    .buffer(true)
    .parse((r, done) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => done(null, text));
    });
  expect(res.status).toBe(200);
  return (res.body as string).split('\r\n').filter((l) => l.length > 0).length - 1;
}

async function eventCount(t: TestApp, user: TestUser): Promise<number> {
  const res = await request(t.server).get('/api/v1/events?limit=100').auth(user.token, { type: 'bearer' });
  expect(res.status).toBe(200);
  return (res.body as { items: unknown[] }).items.length;
}

/** Waits until the primary's sequencer has numbered `count` events touching `userId`. */
async function numberedOnPrimary(userId: string, count: number): Promise<void> {
  const deadline = Date.now() + 30000;
  for (;;) {
    const [{ n }] = await primary.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM numbered_events WHERE user_ids @> ARRAY[$1::uuid]`,
      [userId],
    );
    if (Number(n) >= count) return;
    if (Date.now() > deadline) throw new Error(`events of ${userId}: ${n} numbered, not ${count}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function transfer(t: TestApp, from: TestUser, to: TestWallet, amount: string): Promise<void> {
  const res = await request(t.server)
    .post('/api/v1/transfers')
    .auth(from.token, { type: 'bearer' })
    .set('Idempotency-Key', randomUUID())
    .send({ toWalletId: to.id, amount, currency: 'USD' });
  expect(res.status).toBe(201);
}

async function replicaReads(t: TestApp): Promise<number> {
  const res = await request(t.server).get('/metrics').expect(200);
  return metricTotal(res.text, 'db_reads_total', { target: 'replica' });
}

/** Polls readiness until the replica is in `state`, and returns its entry. */
async function replicaState(t: TestApp, state: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30000;
  for (;;) {
    const res = await request(t.server).get('/health/ready');
    const body = res.body as { details?: { replicas?: { replicas?: Array<Record<string, unknown>> } } };
    const entry = body.details?.replicas?.replicas?.[0];
    if (entry?.state === state) return { ...entry, httpStatus: res.status };
    if (Date.now() > deadline) throw new Error(`replica never ${state}: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pause = () => replica.query('SELECT pg_wal_replay_pause()');
const resume = () => replica.query('SELECT pg_wal_replay_resume()');

beforeAll(async () => {
  primary = await PgNode.primary();
  replica = await PgNode.replicaOf(primary);
  app = await startTestApp({ DB_RUN_MIGRATIONS: 'true', ...replicaEnv(REDIS) }, primary.target);
  admin = await createUser(app, { role: 'ADMIN' });
  const funded = async () => {
    const user = await createUser(app);
    const wallet = await createWallet(app, user);
    await deposit(app, admin, wallet.id, '100.0000');
    return { user, wallet };
  };
  alice = await funded();
  bob = await funded();
  await caughtUp(primary, replica);
});

afterAll(async () => {
  await app?.close();
  await replica?.destroy();
  await primary?.destroy();
});

describe('read replicas (POSTGRES_REPLICA_HOSTS)', () => {
  it('serves statements, CSV statements, point-in-time balances and events from the replica', async () => {
    await replicaState(app, 'streaming');
    const events = await eventCount(app, alice.user);
    await numberedOnPrimary(alice.user.id, events);
    await caughtUp(primary, replica);
    const before = await replicaReads(app);
    await pause();
    try {
      // Written through the service by the admin: only the admin's reads must see it at once.
      await deposit(app, admin, alice.wallet.id, '50.0000');
      expect(await balanceOf(app, alice.user)).toBe('100.0000');
      expect(await statementLength(app, alice.user)).toBe(1);
      expect(await csvRows(app, alice.user)).toBe(1);
      // The deposit's event, numbered on the primary, is not on the paused replica.
      await numberedOnPrimary(alice.user.id, events + 1);
      expect(await eventCount(app, alice.user)).toBe(events);
      const onPrimary = await primary.query<{ balance: string }>(
        'SELECT balance::text FROM wallets WHERE id = $1',
        [alice.wallet.id],
      );
      expect(onPrimary[0].balance).toBe('150.0000');
      expect(await replicaReads(app)).toBeGreaterThanOrEqual(before + 4);
      const sessions = await replica.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = 'hfts-replica-read'`,
      );
      expect(Number(sessions[0].n)).toBeGreaterThan(0);
    } finally {
      await resume();
    }
    await caughtUp(primary, replica);
    expect(await balanceOf(app, alice.user)).toBe('150.0000');
    expect(await eventCount(app, alice.user)).toBe(events + 1);
  });

  it('read-your-writes: a caller who just moved money sees it in the next read, even from a paused replica', async () => {
    await pause();
    try {
      const start = Number(await balanceOf(app, bob.user));
      await transfer(app, bob.user, alice.wallet, '10.0000');
      // Bob's own reads: the replica has not replayed his transfer, so they go to the primary.
      expect(Number(await balanceOf(app, bob.user))).toBe(start - 10);
      expect(await statementLength(app, bob.user)).toBe(2);
      expect(await csvRows(app, bob.user)).toBe(2);
      // The admin reading Bob's wallet after their own deposit to Alice: also fresh.
      await deposit(app, admin, alice.wallet.id, '1.0000');
      const adminView = await request(app.server)
        .get(`/api/v1/admin/wallets/${bob.wallet.id}/balance`)
        .auth(admin.token, { type: 'bearer' })
        .expect(200);
      expect(Number((adminView.body as { balance: string }).balance)).toBe(start - 10);
      // Alice wrote nothing since the pause: her reads stay on the replica, which has not replayed
      // Bob's transfer to her (nor the admin's deposit).
      const aliceOnReplica = Number(await balanceOf(app, alice.user));
      const aliceOnPrimary = await primary.query<{ balance: string }>(
        'SELECT balance::text FROM wallets WHERE id = $1',
        [alice.wallet.id],
      );
      expect(Number(aliceOnPrimary[0].balance)).toBe(aliceOnReplica + 11);

      // Another instance sharing Redis knows Bob's last write too (it never saw the request).
      const other = await startTestApp(replicaEnv(REDIS), primary.target);
      try {
        expect(Number(await balanceOf(other, bob.user))).toBe(start - 10);
        expect(Number(await balanceOf(other, alice.user))).toBe(aliceOnReplica);
      } finally {
        await other.close();
      }
    } finally {
      await resume();
    }
  });

  it('falls back to the primary while the replica is further behind than DB_REPLICA_MAX_LAG_MS, and reports its lag', async () => {
    await caughtUp(primary, replica);
    const strict = await startTestApp(replicaEnv({ DB_REPLICA_MAX_LAG_MS: '300' }), primary.target);
    try {
      await replicaState(strict, 'streaming');
      await pause();
      try {
        const before = Number(await balanceOf(strict, alice.user));
        await transfer(app, bob.user, alice.wallet, '5.0000'); // through the other instance, no Redis here
        const lagging = await replicaState(strict, 'lagging');
        expect(lagging.httpStatus).toBe(200);
        expect(Number(lagging.lagMs)).toBeGreaterThan(300);
        expect(Number(lagging.lagBytes)).toBeGreaterThan(0);
        const metrics = await request(strict.server).get('/metrics').expect(200);
        expect(metricTotal(metrics.text, 'db_replica_lag_seconds')).toBeGreaterThan(0.3);
        expect(metricTotal(metrics.text, 'db_replica_up')).toBe(0);
        // Alice never wrote: only the lag bound sends her read to the primary.
        expect(Number(await balanceOf(strict, alice.user))).toBe(before + 5);
        // The lenient instance still serves her from the paused replica.
        expect(Number(await balanceOf(app, alice.user))).toBe(before);
      } finally {
        await resume();
      }
      await replicaState(strict, 'streaming');
    } finally {
      await strict.close();
    }
  });

  it('measures replica lag under a transfer load, while reads of others keep going to the replica', async () => {
    const carol = await createUser(app);
    await createWallet(app, carol);
    await caughtUp(primary, replica);
    const before = await replicaReads(app);
    let stopping = false;
    const ours: number[] = [];
    const pgs: number[] = [];
    let transfers = 0;
    const sampler = (async () => {
      while (!stopping) {
        const res = await request(app.server).get('/health/ready');
        const body = res.body as { details?: { replicas?: { replicas?: Array<{ lagMs: number | null }> } } };
        const lag = body.details?.replicas?.replicas?.[0]?.lagMs;
        if (typeof lag === 'number') ours.push(lag);
        const [row] = await primary.query<{ ms: string | null }>(
          `SELECT (extract(epoch FROM replay_lag) * 1000)::text AS ms FROM pg_stat_replication`,
        );
        pgs.push(row?.ms ? Number(row.ms) : 0);
        // A reader who writes nothing: served by the replica while it keeps up.
        await balanceOf(app, carol);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const payer = async (from: TestUser, to: TestWallet) => {
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        await transfer(app, from, to, '0.0100');
        transfers++;
      }
    };
    await Promise.all([payer(alice.user, bob.wallet), payer(bob.user, alice.wallet)]);
    stopping = true;
    await sampler;
    const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)];
    const report = {
      transfers,
      samples: ours.length,
      routerLagMs: { p50: pct(ours, 0.5), p99: pct(ours, 0.99), max: Math.max(...ours) },
      pgReplayLagMs: { p50: pct(pgs, 0.5), p99: pct(pgs, 0.99), max: Math.max(...pgs) },
    };
    // The figures docs/SCALING.md quotes.
    process.stdout.write(`replica lag under load: ${JSON.stringify(report)}\n`);
    expect(transfers).toBeGreaterThan(0);
    expect(ours.length).toBeGreaterThan(0);
    expect(await replicaReads(app)).toBeGreaterThan(before);
  });

  it('falls back to the primary when the replica is down, and readiness stays 200', async () => {
    await caughtUp(primary, replica);
    await replica.stop();
    const down = await replicaState(app, 'down');
    expect(down.httpStatus).toBe(200);
    await transfer(app, bob.user, alice.wallet, '1.0000');
    const onPrimary = await primary.query<{ balance: string }>(
      'SELECT balance::text FROM wallets WHERE id = $1',
      [alice.wallet.id],
    );
    expect(await balanceOf(app, alice.user)).toBe(onPrimary[0].balance);
    expect(await statementLength(app, alice.user)).toBeGreaterThan(1);
    expect(await csvRows(app, alice.user)).toBeGreaterThan(1);
  });
});
