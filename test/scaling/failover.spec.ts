import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { MONEY_INVARIANTS } from '../../scripts/lib/invariants-sql.cjs';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, createWallet, deposit, type TestUser, type TestWallet } from '../support/factories';
import { PgNode } from './support/postgres-cluster';

/**
 * Failover with synchronous replication (synchronous_standby_names = '*'): the service is given both
 * servers in POSTGRES_HOST; under a load of transfers, the primary is killed (SIGKILL to the postmaster
 * and every backend at once) and the replica promoted (pg_ctl promote). Clients retry every unanswered or
 * 5xx/409 transfer with the same Idempotency-Key until it gets a final answer, as the API asks them to.
 * Then, on the promoted server: every 2xx transfer is there with its ledger, every key applied exactly
 * once, and the money invariants hold. The time without service is reported.
 */
let primary: PgNode;
let replica: PgNode;
let app: TestApp;

interface Answer {
  key: string;
  userId: string;
  status: number;
  id?: string;
  attempts: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether an answer is final for a client: success or a refusal; 5xx, 409 and no answer are retried. */
const isFinal = (status: number): boolean => status !== 0 && status < 500 && status !== 409;

beforeAll(async () => {
  primary = await PgNode.primary();
  replica = await PgNode.replicaOf(primary);
  await primary.requireSynchronousStandby();
  app = await startTestApp(
    {
      DB_RUN_MIGRATIONS: 'true',
      POSTGRES_HOST: `${primary.address},${replica.address}`,
      DB_CONNECT_TIMEOUT_MS: '1000',
      DB_POOL_SIZE: '8',
      // The clients' retries with their keys are what this test proves: without the primary hold, which
      // would carry every request over a 1.4 s promotion (test/scaling/patroni.spec.ts tests the hold).
      DB_PRIMARY_WAIT_MS: '0',
    },
    primary.target,
  );
  // The test's own connection to the first primary dies with it.
  app.sql.on('error', () => undefined);
});

afterAll(async () => {
  await app?.close().catch(() => undefined);
  await replica?.destroy();
  await primary?.destroy();
});

it('keeps every acknowledged transfer and applies every retried key once across a primary loss and promotion', async () => {
  const [sync] = await primary.query<{ sync_state: string }>('SELECT sync_state FROM pg_stat_replication');
  expect(sync.sync_state).toBe('sync');

  const admin = await createUser(app, { role: 'ADMIN' });
  const parties: Array<{ user: TestUser; wallet: TestWallet }> = [];
  for (let i = 0; i < 6; i++) {
    const user = await createUser(app);
    const wallet = await createWallet(app, user);
    await deposit(app, admin, wallet.id, '1000.0000');
    parties.push({ user, wallet });
  }

  const answers: Answer[] = [];
  /** When each 2xx answer's request was sent and answered, to measure the time without service. */
  const successes: Array<{ sent: number; done: number }> = [];
  let stopping = false;
  /** Set when the test fails: clients give up their unanswered keys, so the workers end. */
  let abandoned = false;

  const send = async (from: TestUser, to: TestWallet, key: string) => {
    try {
      const res = await request(app.server)
        .post('/api/v1/transfers')
        .auth(from.token, { type: 'bearer' })
        .set('Idempotency-Key', key)
        .send({ toWalletId: to.id, amount: '1.2500', currency: 'USD' })
        .timeout(15000);
      return { status: res.status, id: (res.body as { id?: string }).id };
    } catch {
      return { status: 0, id: undefined };
    }
  };

  const worker = async (index: number) => {
    const me = parties[index];
    for (let n = 0; !stopping; n++) {
      const to = parties[(index + 1 + (n % (parties.length - 1))) % parties.length].wallet;
      const key = randomUUID();
      let attempts = 0;
      for (;;) {
        attempts++;
        const sent = Date.now();
        const r = await send(me.user, to, key);
        if (r.status >= 200 && r.status < 300) successes.push({ sent, done: Date.now() });
        if (isFinal(r.status)) {
          answers.push({ key, userId: me.user.id, status: r.status, id: r.id, attempts });
          break;
        }
        if (abandoned) return;
        await sleep(50);
      }
    }
  };

  const load = parties.map((_, i) => worker(i));
  const waitFor = async (what: string, done: () => boolean) => {
    const deadline = Date.now() + 90000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  let killedAt = 0;
  let promotedAt = 0;
  let acknowledgedBefore = 0;
  try {
    await waitFor('load before the kill', () => successes.length >= 60);
    killedAt = Date.now();
    await primary.kill();
    acknowledgedBefore = successes.length;
    // A failover manager's detection time, short here: the replica is promoted half a second later.
    await sleep(500);
    promotedAt = Date.now();
    await replica.promote();
    await waitFor(
      'load after the promotion',
      () => successes.filter((t) => t.sent > promotedAt).length >= 60,
    );
  } catch (err) {
    abandoned = true;
    throw err;
  } finally {
    stopping = true;
    await Promise.all(load);
  }

  // Service is back with the first transfer sent after the kill that succeeds.
  const firstAfter = successes.find((t) => t.sent > killedAt)?.done ?? NaN;
  const ok = answers.filter((a) => a.status >= 200 && a.status < 300);
  const retried = answers.filter((a) => a.attempts > 1);
  const report = {
    transfersAcknowledged: ok.length,
    acknowledgedBeforeKill: acknowledgedBefore,
    retriedKeys: retried.length,
    refused: answers.length - ok.length,
    withoutServiceMs: firstAfter - killedAt,
    promoteToFirstTransferMs: firstAfter - promotedAt,
  };
  // The figures docs/SCALING.md quotes.
  process.stdout.write(`failover: ${JSON.stringify(report)}\n`);

  expect(retried.length).toBeGreaterThan(0);
  expect(ok.length).toBeGreaterThan(120);
  expect(answers.filter((a) => !(a.status >= 200 && a.status < 300) && a.status !== 422)).toEqual([]);

  // On the promoted server: every acknowledged transfer, completed, with its two ledger entries.
  const ids = ok.map((a) => a.id);
  const found = await replica.query<{ id: string; entries: string; status: string }>(
    `SELECT t.id, t.status, count(l.id)::text AS entries FROM transactions t
       LEFT JOIN ledger_entries l ON l.transaction_id = t.id
      WHERE t.id = ANY($1::uuid[]) GROUP BY t.id, t.status`,
    [ids],
  );
  expect(found.length).toBe(new Set(ids).size);
  expect(found.filter((f) => f.status !== 'COMPLETED' || f.entries !== '2')).toEqual([]);
  // Every key applied exactly once: one transfer per acknowledged key, no other transfer, each key's
  // stored answer naming the transfer its client was given.
  expect(new Set(ids).size).toBe(ok.length);
  const [{ n }] = await replica.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM transactions WHERE type = 'TRANSFER'`,
  );
  expect(Number(n)).toBe(ok.length);
  const stored = await replica.query<{ user_id: string; key: string; transaction_id: string }>(
    `SELECT user_id, key, transaction_id FROM idempotency_keys WHERE key = ANY($1::text[])`,
    [ok.map((a) => a.key)],
  );
  const byKey = new Map(stored.map((s) => [`${s.user_id}/${s.key}`, s.transaction_id]));
  expect(ok.filter((a) => byKey.get(`${a.userId}/${a.key}`) !== a.id)).toEqual([]);
  for (const invariant of MONEY_INVARIANTS) {
    expect({ [invariant.name]: await replica.query(invariant.sql) }).toEqual({ [invariant.name]: [] });
  }
  // And the service says it is ready again, on the new primary.
  await request(app.server).get('/health/ready').expect(200);
}, 240000);
