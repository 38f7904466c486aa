import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type JetStreamManager, type NatsConnection, type StoredMsg } from 'nats';
import request from 'supertest';
import { freePort } from '../../scripts/lib/free-port.cjs';
import { startTestApp, type TestApp } from '../support/app';
import { counterTotal, eventually, startCluster } from '../support/cluster';
import { createTestDatabase, dropTestDatabase } from '../support/database';
import { PgStatementCounter } from '../support/pg-statement-counter';
import { createUser, fundedUser, type TestUser } from '../support/factories';

/**
 * The relay of the outbox to NATS JetStream, against the machine's NATS server (127.0.0.1:4222, or
 * NATS_TEST_URL). Each test uses a stream and subject prefix of its own, deleted afterwards, so that runs
 * sharing one server never see each other's messages.
 */
const NATS = process.env.NATS_TEST_URL ?? 'nats://127.0.0.1:4222';
const API = '/api/v1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface EventJson {
  id: string;
  type: string;
  sequence: number;
  createdAt: string;
  walletIds: string[];
  data: Record<string, unknown>;
}

function natsEnv(): { env: Record<string, string>; stream: string; prefix: string } {
  const tag = randomBytes(4).toString('hex');
  const stream = `HFTS_TEST_${tag}`;
  const prefix = `hfts_test_${tag}.events`;
  return {
    stream,
    prefix,
    env: {
      NATS_URL: NATS,
      NATS_STREAM: stream,
      NATS_SUBJECT_PREFIX: prefix,
      NATS_DUPLICATE_WINDOW_MS: '60000',
      NATS_RELAY_INTERVAL_MS: '20',
      NATS_RELAY_BATCH: '7', // small batches: a run of movements takes many passes
    },
  };
}

/** Every message of the stream, in stream order. */
async function streamMessages(jsm: JetStreamManager, stream: string): Promise<StoredMsg[]> {
  const info = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    out.push(await jsm.streams.getMessage(stream, { seq }));
  }
  return out;
}

/** The numbered events as the API gives them to an admin, in sequence order. */
async function allEvents(t: TestApp, admin: TestUser): Promise<EventJson[]> {
  const items: EventJson[] = [];
  let cursor: string | null = '0';
  while (cursor !== null) {
    const res = await request(t.server)
      .get(`${API}/events`)
      .query({ after: cursor, limit: 100 })
      .auth(admin.token, { type: 'bearer' })
      .expect(200);
    const page = res.body as { items: EventJson[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  }
  return items;
}

/** Waits until every committed event is numbered and the stream holds as many messages as there are events. */
async function relayed(t: TestApp, jsm: JetStreamManager, stream: string): Promise<number> {
  let last = '';
  for (let i = 0; i < 300; i++) {
    const { rows } = await t.sql.query<{ all: number; open: number }>(
      `SELECT count(*)::int AS all, count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM event_sequence s WHERE s.event_id = e.id))::int AS open FROM events e`,
    );
    const messages = await jsm.streams.info(stream).then(
      (s) => s.state.messages,
      () => -1,
    );
    if (rows[0].open === 0 && messages >= rows[0].all) return messages;
    last = `${rows[0].all} events (${rows[0].open} unnumbered), ${messages} messages`;
    await sleep(50);
  }
  throw new Error(`events not relayed in time: ${last}`);
}

/** A mix of movements and a status change: every event type but an expiry. */
async function someChanges(t: TestApp, admin: TestUser, n: number): Promise<void> {
  const a = await fundedUser(t, admin, '1000');
  const b = await fundedUser(t, admin, '0');
  const post = (u: TestUser, path: string, body: Record<string, unknown>) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', randomUUID())
      .send(body);
  const send = (amount: string, extra: Record<string, unknown> = {}) =>
    post(a.user, '/transfers', { toWalletId: b.wallet.id, amount, currency: 'USD', ...extra });
  await Promise.all(Array.from({ length: n }, () => send('1').expect(201)));
  const paid = (await send('10').expect(201)).body as { id: string };
  await send('100000').expect(422); // recorded FAILED: transaction.failed
  const hold = (await send('5', { hold: true }).expect(201)).body as { id: string };
  await post(b.user, `/transfers/${hold.id}/capture`, {}).expect(200);
  const other = (await send('6', { hold: true }).expect(201)).body as { id: string };
  await post(b.user, `/transfers/${other.id}/void`, {}).expect(200);
  await post(b.user, `/transfers/${paid.id}/refunds`, { amount: '4' }).expect(201);
  await request(t.server)
    .patch(`${API}/admin/users/${b.user.id}/status`)
    .auth(admin.token, { type: 'bearer' })
    .send({ status: 'SUSPENDED' })
    .expect(200);
}

describe('events relayed to NATS JetStream', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: NATS });
    jsm = await nc.jetstreamManager();
  });
  afterAll(async () => {
    for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  });

  it('publishes every event once, in sequence order, on hfts.events.<type> with Nats-Msg-Id = its id', async () => {
    const { env, stream, prefix } = natsEnv();
    streams.push(stream);
    const t = await startTestApp(env);
    try {
      const admin = await createUser(t, { role: 'ADMIN' });
      await someChanges(t, admin, 20);
      await relayed(t, jsm, stream);
      // Settle: a second look after more passes must find nothing more (no duplicate slipped in later).
      await sleep(300);
      const events = await allEvents(t, admin);
      const messages = await streamMessages(jsm, stream);
      const types = new Set(events.map((e) => e.type));
      for (const type of ['transaction.completed', 'transaction.failed', 'hold.created', 'hold.captured']) {
        expect(types).toContain(type);
      }
      for (const type of ['hold.voided', 'refund.completed', 'user.status_changed'])
        expect(types).toContain(type);

      expect(messages.length).toBe(events.length);
      // Stream order is sequence order, and each message is its event: subject, id header, body.
      messages.forEach((m, i) => {
        const e = events[i];
        expect(m.subject).toBe(`${prefix}.${e.type}`);
        expect(m.header?.get('Nats-Msg-Id')).toBe(e.id);
        expect(m.json<EventJson>()).toEqual(e);
      });
      const info = await jsm.streams.info(stream);
      expect(info.config.subjects).toEqual([`${prefix}.>`]);
      expect(info.config.duplicate_window).toBe(60000 * 1e6); // nanoseconds

      // The metrics count what was published; nothing is left waiting.
      const metrics = (await request(t.server).get('/metrics').expect(200)).text;
      expect(metrics).toMatch(new RegExp(`^events_relayed_total ${events.length}$`, 'm'));
      expect(metrics).toMatch(/^events_outbox_lag_seconds\{state="unrelayed"\} 0$/m);
      expect(metrics).toMatch(/^events_relay_nats_connected 1$/m);
    } finally {
      await t.close();
    }
  });

  it('shares the work between instances without publishing any event twice', async () => {
    const { env, stream } = natsEnv();
    streams.push(stream);
    const cluster = await startCluster(3, env);
    try {
      const t = cluster.primary;
      const admin = await createUser(t, { role: 'ADMIN' });
      const users = await Promise.all([0, 1, 2].map(() => fundedUser(t, admin, '100')));
      // Transfers through every instance at once, so every relay has work while the others hold the cursor.
      await Promise.all(
        Array.from({ length: 90 }, (_, i) =>
          request(cluster.pick(i).server)
            .post(`${API}/transfers`)
            .auth(users[i % 3].user.token, { type: 'bearer' })
            .set('Idempotency-Key', randomUUID())
            .send({ toWalletId: users[(i + 1) % 3].wallet.id, amount: '0.5', currency: 'USD' })
            .expect(201),
        ),
      );
      await relayed(t, jsm, stream);
      await sleep(300);
      const events = await allEvents(t, admin);
      const messages = await streamMessages(jsm, stream);
      expect(messages.map((m) => m.header?.get('Nats-Msg-Id'))).toEqual(events.map((e) => e.id));
      // JetStream would hide a double publish (the duplicate window drops it): the relays' own count of
      // PubAcks marked duplicate shows that no event was even sent twice.
      expect(await counterTotal(cluster.instances, 'events_relay_duplicates_total')).toBe(0);
      expect(await counterTotal(cluster.instances, 'events_relayed_total')).toBe(events.length);
    } finally {
      await cluster.close();
    }
  });

  it('creates the stream again when it is deleted under a running relay', async () => {
    const { env, stream } = natsEnv();
    streams.push(stream);
    const t = await startTestApp(env);
    try {
      const admin = await createUser(t, { role: 'ADMIN' });
      const a = await fundedUser(t, admin, '10');
      await relayed(t, jsm, stream);
      await jsm.streams.delete(stream);
      const b = await fundedUser(t, admin, '0');
      await request(t.server)
        .post(`${API}/transfers`)
        .auth(a.user.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send({ toWalletId: b.wallet.id, amount: '1', currency: 'USD' })
        .expect(201);
      let stored: StoredMsg[] = [];
      for (let i = 0; i < 200 && stored.length === 0; i++) {
        await sleep(50);
        stored = await streamMessages(jsm, stream).catch(() => []);
      }
      // The events after the deletion are in the new stream (the cursor had passed the earlier ones).
      const { rows } = await t.sql.query<{ id: string }>(
        `SELECT e.id FROM numbered_events e, event_relay_cursors c
          WHERE c.stream = $1 AND e.sequence <= c.last_sequence ORDER BY e.sequence DESC LIMIT 1`,
        [stream],
      );
      expect(stored.map((m) => m.header?.get('Nats-Msg-Id'))).toContain(rows[0].id);
    } finally {
      await t.close();
    }
  });

  it('keeps moving money and stays ready while NATS is unreachable; the lag shows the outbox growing', async () => {
    const { env, stream } = natsEnv();
    const t = await startTestApp({ ...env, NATS_URL: `nats://127.0.0.1:${await freePort()}` });
    try {
      const admin = await createUser(t, { role: 'ADMIN' });
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      for (let i = 0; i < 5; i++) {
        await request(t.server)
          .post(`${API}/transfers`)
          .auth(a.user.token, { type: 'bearer' })
          .set('Idempotency-Key', randomUUID())
          .send({ toWalletId: b.wallet.id, amount: '1', currency: 'USD' })
          .expect(201);
      }
      await request(t.server).get('/health/ready').expect(200);
      let metrics = '';
      for (let i = 0; i < 100; i++) {
        metrics = (await request(t.server).get('/metrics').expect(200)).text;
        const lag = /^events_outbox_lag_seconds\{state="unrelayed"\} (\S+)$/m.exec(metrics);
        if (lag && Number(lag[1]) > 0.5) break;
        await sleep(50);
      }
      expect(
        Number(/^events_outbox_lag_seconds\{state="unrelayed"\} (\S+)$/m.exec(metrics)?.[1]),
      ).toBeGreaterThan(0.5);
      expect(metrics).toMatch(/^events_relay_nats_connected 0$/m);
      expect(
        Number(/^events_relay_errors_total\{stage="connect"\} (\d+)$/m.exec(metrics)?.[1]),
      ).toBeGreaterThan(0);
      const { rows } = await t.sql.query<{ last: string }>(
        `SELECT last_sequence::text AS last FROM event_relay_cursors WHERE stream = $1`,
        [stream],
      );
      expect(rows).toEqual([{ last: '0' }]);
    } finally {
      await t.close();
    }
  });
});

describe('an idle instance costs the database almost nothing (issue 26)', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const { env, stream } = natsEnv();

  beforeAll(async () => {
    nc = await connect({ servers: NATS });
    jsm = await nc.jetstreamManager();
  });
  afterAll(async () => {
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  it('sends at most one statement a second from the relay and the webhook dispatcher, and is prompt again on a write', async () => {
    const db = await createTestDatabase();
    const counter = new PgStatementCounter({ host: db.host, port: db.port });
    const port = await counter.listen();
    const received: Array<{ id: string; sequence: number }> = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; sequence: number });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    // The service reaches PostgreSQL through the counting proxy; the test's own queries go around it.
    const t = await startTestApp(
      {
        ...env,
        NATS_RELAY_INTERVAL_MS: '50',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        POSTGRES_HOST: '127.0.0.1',
        POSTGRES_PORT: String(port),
      },
      db,
    );
    try {
      const admin = await createUser(t, { role: 'ADMIN' });
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      await request(t.server)
        .post(`${API}/webhooks`)
        .auth(admin.token, { type: 'bearer' })
        .send({ url })
        .expect(201);
      const write = async () => {
        const { wallet } = await fundedUser(t, admin, '5');
        return wallet.id;
      };
      await write();
      const settled = async (): Promise<number> => {
        const n = await relayed(t, jsm, stream);
        await eventually(
          async () => received.length,
          (got) => got >= n,
        );
        return n;
      };
      const before = await settled();
      // Quiet: the passes that found work are followed by ones that find none, then the readers idle.
      await sleep(2000);
      counter.reset();
      const seconds = 6;
      await sleep(seconds * 1000);
      const idle = counter.snapshot();
      process.stdout.write(
        `statements in ${seconds} idle seconds, by application: ${JSON.stringify(idle)}\n`,
      );
      expect(idle['hfts-relay'] ?? 0).toBeLessThanOrEqual(seconds);
      expect(idle['hfts-webhooks'] ?? 0).toBeLessThanOrEqual(seconds);
      expect(idle['hfts-events-listener'] ?? 0).toBe(0);
      // And the instance as a whole (the sequencer, the ledger's appender, hold expiry...): at most one a second.
      expect(Object.values(idle).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(seconds);

      // A write wakes them: its events are published and delivered, each carrying its sequence.
      await write();
      const after = await settled();
      expect(after).toBeGreaterThan(before);
      const events = (await streamMessages(jsm, stream)).map((m) => m.json<EventJson>());
      const { rows } = await t.sql.query<{ id: string; sequence: number }>(
        `SELECT id, sequence::int AS sequence FROM numbered_events ORDER BY sequence`,
      );
      expect(events.map((e) => [e.id, e.sequence])).toEqual(rows.map((r) => [r.id, r.sequence]));
      expect([...received].sort((a, b) => a.sequence - b.sequence).map((e) => [e.id, e.sequence])).toEqual(
        rows.map((r) => [r.id, r.sequence]),
      );
    } finally {
      await t.close();
      await counter.close();
      receiver.closeAllConnections();
      await new Promise((done) => receiver.close(done));
      await dropTestDatabase(db.database);
    }
  });
});
