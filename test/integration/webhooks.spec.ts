import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { Pool } from 'pg';
import { stdSerializers } from 'pino';
import request from 'supertest';
import { type HftsEvent, webhookReceiver } from '../../docs/examples/webhook-receiver';
import { resolveWebhookTarget, UrlRefused } from '../../src/webhooks/url-guard';
import { WebhookJobs } from '../../src/webhooks/webhook-jobs';
import { WebhooksRepository } from '../../src/webhooks/webhooks.repository';
import { WebhookSender } from '../../src/webhooks/webhook-sender';
import { startTestApp, type TestApp } from '../support/app';
import { counterTotal, eventually } from '../support/cluster';
import { createUser, deposit, fundedUser, type TestUser } from '../support/factories';

/** What a local receiver got: every request as sent, and how many connections were opened to it. */
class Receiver {
  readonly requests: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  connections = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    this.server.on('connection', () => (this.connections += 1));
  }

  async listen(): Promise<string> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The events received, each checked with the endpoint's secret as a receiver would. */
  verified(secret: string): HftsEvent[] {
    const webhook = new Webhook(secret);
    return this.requests.map(({ headers, body }) => {
      const event = webhook.verify(body, {
        'webhook-id': String(headers['webhook-id']),
        'webhook-timestamp': String(headers['webhook-timestamp']),
        'webhook-signature': String(headers['webhook-signature']),
      }) as HftsEvent;
      expect(headers['webhook-id']).toBe(event.id);
      return event;
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((done) => this.server.close(() => done()));
  }
}

interface Registered {
  id: string;
  url: string;
  eventTypes: string[] | null;
  secret: string;
  createdAt: string;
}

async function register(t: TestApp, user: TestUser, body: Record<string, unknown>) {
  return request(t.server).post('/api/v1/webhooks').auth(user.token, { type: 'bearer' }).send(body);
}

async function transfer(t: TestApp, from: TestUser, toWalletId: string, amount: string, extra = {}) {
  const res = await request(t.server)
    .post('/api/v1/transfers')
    .auth(from.token, { type: 'bearer' })
    .set('Idempotency-Key', randomUUID())
    .send({ toWalletId, amount, currency: 'USD', ...extra });
  expect(res.status).toBe(201);
  return res.body as { id: string };
}

/** The ids of the sequenced events whose user_ids hold `userId`, created after `since`. */
async function eventsTouching(t: TestApp, userId: string, since: string): Promise<string[]> {
  const { rows } = await t.sql.query<{ id: string }>(
    `SELECT id FROM numbered_events WHERE $1 = ANY (user_ids) AND created_at >= $2 ORDER BY sequence`,
    [userId, since],
  );
  return rows.map((r) => r.id);
}

const sorted = (xs: string[]): string[] => [...xs].sort();

describe('webhooks', () => {
  let t: TestApp;
  let admin: TestUser;
  const receivers: Receiver[] = [];

  const receiver = async (): Promise<{ r: Receiver; url: string }> => {
    const r = new Receiver();
    receivers.push(r);
    return { r, url: await r.listen() };
  };

  beforeAll(async () => {
    t = await startTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_POLL_INTERVAL_MS: '50' });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await t.close();
    for (const r of receivers) await r.close();
  });

  it('delivers each event touching a user to their endpoint, signed (Standard Webhooks), and no other', async () => {
    const alice = await fundedUser(t, admin, '100');
    const bob = await fundedUser(t, admin, '100');
    const carol = await fundedUser(t, admin, '100');
    const a = await receiver();
    const created = await register(t, alice.user, { url: a.url });
    expect(created.status).toBe(201);
    const hook = created.body as Registered;
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(hook.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(hook).toEqual(expect.objectContaining({ url: a.url, eventTypes: null }));

    const toBob = await transfer(t, alice.user, bob.wallet.id, '10.0000');
    const fromBob = await transfer(t, bob.user, alice.wallet.id, '1.5000');
    const held = await transfer(t, alice.user, carol.wallet.id, '2.0000', { hold: true });
    const voided = await request(t.server)
      .post(`/api/v1/transfers/${held.id}/void`)
      .auth(carol.user.token, { type: 'bearer' })
      .set('Idempotency-Key', randomUUID())
      .send();
    expect(voided.status).toBe(200);
    // Not alice's: carol to bob, and a deposit to carol.
    await transfer(t, carol.user, bob.wallet.id, '3.0000');
    await deposit(t, admin, carol.wallet.id, '5');

    const expected = [
      [toBob.id, 'transaction.completed'],
      [fromBob.id, 'transaction.completed'],
      [held.id, 'hold.created'],
      [held.id, 'hold.voided'],
    ];
    await eventually(
      async () => a.r.requests.length,
      (n) => n >= expected.length,
    );
    // A moment more, for a delivery that should not come.
    await new Promise((r) => setTimeout(r, 500));
    const got = a.r.verified(hook.secret);
    expect(got.map((e) => [(e.data.transaction as { id: string }).id, e.type])).toEqual(
      expect.arrayContaining(expected),
    );
    expect(got).toHaveLength(expected.length);
    expect(sorted(got.map((e) => e.id))).toEqual(
      sorted(await eventsTouching(t, alice.user.id, hook.createdAt)),
    );
    for (const e of got) {
      expect(e.walletIds).toContain(alice.wallet.id);
      expect(Number.isInteger(e.sequence)).toBe(true);
    }
    // A body changed in transit, or signed with another secret, does not verify.
    const [first] = a.r.requests;
    const other = new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`);
    const headers = {
      'webhook-id': String(first.headers['webhook-id']),
      'webhook-timestamp': String(first.headers['webhook-timestamp']),
      'webhook-signature': String(first.headers['webhook-signature']),
    };
    expect(() => other.verify(first.body, headers)).toThrow();
    expect(() => new Webhook(hook.secret).verify(first.body.replace('"type"', '"typ"'), headers)).toThrow();

    // The delivery log: one SUCCEEDED attempt per event, with the receiver's status.
    const log = await request(t.server)
      .get(`/api/v1/webhooks/${hook.id}/deliveries`)
      .auth(alice.user.token, { type: 'bearer' })
      .expect(200);
    const items = (log.body as { items: Array<Record<string, unknown>> }).items;
    expect(sorted(items.map((i) => i.eventId as string))).toEqual(sorted(got.map((e) => e.id)));
    for (const i of items) {
      expect(i).toEqual({
        eventId: expect.any(String),
        attempt: 1,
        status: 'SUCCEEDED',
        responseStatus: 204,
        at: expect.any(String),
      });
    }
    expect(
      await counterTotal([t], 'webhook_deliveries_total', { outcome: 'succeeded' }),
    ).toBeGreaterThanOrEqual(expected.length);
  });

  it('delivers only the chosen event types, and every event to an admin’s endpoint', async () => {
    const dave = await fundedUser(t, admin, '100');
    const erin = await fundedUser(t, admin, '100');
    const d = await receiver();
    const x = await receiver();
    const dHook = (await register(t, dave.user, { url: d.url, eventTypes: ['hold.created'] }))
      .body as Registered;
    expect(dHook.eventTypes).toEqual(['hold.created']);
    const xHook = (await register(t, admin, { url: x.url })).body as Registered;

    await transfer(t, dave.user, erin.wallet.id, '1.0000');
    const hold = await transfer(t, dave.user, erin.wallet.id, '2.0000', { hold: true });
    const other = await transfer(t, erin.user, dave.wallet.id, '0.5000');

    await eventually(
      async () => d.r.requests.length,
      (n) => n >= 1,
    );
    // The admin's endpoint sees all three, including erin's transfer, which it touches no wallet of.
    await eventually(
      async () => x.r.verified(xHook.secret).map((e) => (e.data.transaction as { id: string }).id),
      (ids) => ids.includes(other.id) && ids.includes(hold.id),
    );
    await new Promise((r) => setTimeout(r, 500));
    const got = d.r.verified(dHook.secret);
    expect(got.map((e) => [e.type, (e.data.transaction as { id: string }).id])).toEqual([
      ['hold.created', hold.id],
    ]);
    const all = x.r.verified(xHook.secret);
    const { rows } = await t.sql.query<{ id: string }>(
      `SELECT id FROM numbered_events WHERE created_at >= $1`,
      [xHook.createdAt],
    );
    expect(sorted(all.map((e) => e.id))).toEqual(sorted(rows.map((r) => r.id)));
  });

  it('refuses invalid registrations with VALIDATION_FAILED', async () => {
    const user = await createUser(t);
    for (const body of [
      {},
      { url: 'ftp://example.com/x' },
      { url: 'https://example.com/x', eventTypes: ['transaction.exploded'] },
      { url: 'https://example.com/x', eventTypes: [] },
      { url: 'https://example.com/x', eventTypes: ['hold.created', 'hold.created'] },
      { url: 'https://example.com/x', secret: 'whsec_mine' },
    ]) {
      const res = await register(t, user, body);
      expect([JSON.stringify(body), res.status, (res.body as { code: string }).code]).toEqual([
        JSON.stringify(body),
        400,
        'VALIDATION_FAILED',
      ]);
    }
  });

  it('allows at most 10 endpoints per user, also to concurrent registrations', async () => {
    const user = await createUser(t);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => register(t, user, { url: `https://93.184.215.14/hook/${i}` })),
    );
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(10);
    for (const r of results.filter((x) => x.status !== 201)) {
      expect([r.status, (r.body as { code: string }).code]).toEqual([422, 'CONSTRAINT_VIOLATION']);
    }
    await request(t.server)
      .delete(`/api/v1/webhooks/${(created[0].body as Registered).id}`)
      .auth(user.token, { type: 'bearer' })
      .expect(204);
    expect((await register(t, user, { url: 'https://93.184.215.14/again' })).status).toBe(201);
    expect((await register(t, user, { url: 'https://93.184.215.14/more' })).status).toBe(422);
  });

  it('lists endpoints without their secret, scoped to their owner; deletion stops deliveries', async () => {
    const frank = await fundedUser(t, admin, '100');
    const grace = await fundedUser(t, admin, '100');
    const f = await receiver();
    const g = await receiver();
    const fHook = (await register(t, frank.user, { url: f.url })).body as Registered;
    const gHook = (await register(t, grace.user, { url: g.url })).body as Registered;

    const listed = await request(t.server)
      .get('/api/v1/webhooks')
      .auth(frank.user.token, { type: 'bearer' })
      .expect(200);
    expect(listed.body).toEqual({
      items: [{ id: fHook.id, url: f.url, eventTypes: null, createdAt: fHook.createdAt }],
    });
    expect(JSON.stringify(listed.body)).not.toContain(fHook.secret);
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');

    // Not grace's to see or delete.
    await request(t.server)
      .get(`/api/v1/webhooks/${fHook.id}/deliveries`)
      .auth(grace.user.token, { type: 'bearer' })
      .expect(404);
    await request(t.server)
      .delete(`/api/v1/webhooks/${fHook.id}`)
      .auth(grace.user.token, { type: 'bearer' })
      .expect(404);

    const before = await transfer(t, frank.user, grace.wallet.id, '1.0000');
    await eventually(
      async () => f.r.requests.length + g.r.requests.length,
      (n) => n >= 2,
    );
    const log = await request(t.server)
      .get(`/api/v1/webhooks/${fHook.id}/deliveries`)
      .auth(frank.user.token, { type: 'bearer' })
      .expect(200);
    expect(JSON.stringify(log.body)).not.toContain(fHook.secret);

    await request(t.server)
      .delete(`/api/v1/webhooks/${fHook.id}`)
      .auth(frank.user.token, { type: 'bearer' })
      .expect(204);
    await request(t.server)
      .delete(`/api/v1/webhooks/${fHook.id}`)
      .auth(frank.user.token, { type: 'bearer' })
      .expect(404);
    await request(t.server)
      .get(`/api/v1/webhooks/${fHook.id}/deliveries`)
      .auth(frank.user.token, { type: 'bearer' })
      .expect(404);
    expect(
      (await request(t.server).get('/api/v1/webhooks').auth(frank.user.token, { type: 'bearer' }).expect(200))
        .body,
    ).toEqual({ items: [] });

    const after = await transfer(t, frank.user, grace.wallet.id, '2.0000');
    // Grace's endpoint receives the new transfer: the dispatcher has passed it, and sent frank's nothing.
    await eventually(
      async () => g.r.verified(gHook.secret).map((e) => (e.data.transaction as { id: string }).id),
      (ids) => ids.includes(after.id),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(f.r.verified(fHook.secret).map((e) => (e.data.transaction as { id: string }).id)).toEqual([
      before.id,
    ]);
    const { rows } = await t.sql.query<{ secret: string | null }>(
      `SELECT secret FROM webhook_endpoints WHERE id = $1`,
      [fHook.id],
    );
    expect(rows).toEqual([{ secret: null }]);
  });

  it('keeps the secret out of the error a failed insert carries to the logs', async () => {
    const user = await createUser(t);
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    // Longer than the table's CHECK allows (the DTO stops it first): the statement fails in PostgreSQL.
    const failed = await t.app
      .get(WebhooksRepository)
      .create(user.id, `https://93.184.215.14/${'x'.repeat(3000)}`, null, secret, 10)
      .then(
        () => undefined,
        (err: unknown) => err as Error,
      );
    expect(failed).toBeInstanceOf(Error);
    // As the error filter's logger writes it (pino's err serializer copies every own field).
    const logged = JSON.stringify(stdSerializers.err(failed!));
    expect(logged).toContain('webhook_endpoints');
    expect(logged).not.toContain(secret);
  });

  it('is served by the receiver example of docs/examples, which verifies and drops duplicates', async () => {
    const henry = await fundedUser(t, admin, '100');
    const ivan = await fundedUser(t, admin, '100');
    const handled: HftsEvent[] = [];
    let hook: Registered | undefined;
    // The secret is known only once registered: the server is created first and verifies with it then.
    const server = createServer((req, res) => example?.emit('request', req, res));
    let example: Server | undefined;
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      hook = (await register(t, henry.user, { url })).body as Registered;
      example = webhookReceiver(hook.secret, (e) => void handled.push(e));
      const moved = await transfer(t, henry.user, ivan.wallet.id, '4.0000');
      await eventually(
        async () => handled.map((e) => (e.data.transaction as { id: string }).id),
        (ids) => ids.includes(moved.id),
      );
      // A re-sent delivery (at least once) is answered 2xx and not handled twice.
      const { rows } = await t.sql.query<{ n: number }>(
        `UPDATE webhook_deliveries SET state = 'PENDING', next_attempt_at = now() WHERE endpoint_id = $1 RETURNING 1 AS n`,
        [hook.id],
      );
      expect(rows.length).toBeGreaterThan(0);
      // The jobs were made due behind the dispatcher's back; an idle dispatcher waits for a notification (or
      // its 30 s probe), which a real re-send (a retry it scheduled, a lease that lapsed) would not need.
      await t.sql.query(`SELECT pg_notify('hfts_events', '0')`);
      await eventually(
        async () =>
          (
            await t.sql.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM webhook_attempts WHERE endpoint_id = $1 AND status = 'SUCCEEDED'`,
              [hook!.id],
            )
          ).rows[0].n,
        (n) => n >= 2,
      );
      expect(handled.map((e) => e.id)).toHaveLength(new Set(handled.map((e) => e.id)).size);
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});

/** A receiver that holds every request while `holding`, and answers the held ones when released. */
class Gate {
  readonly bodies: string[] = [];
  private held: Array<() => void> = [];
  holding = true;
  private readonly server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.bodies.push(Buffer.concat(chunks).toString('utf8'));
      const answer = (): void => void res.writeHead(204).end();
      if (this.holding) this.held.push(answer);
      else answer();
    });
  });

  get waiting(): number {
    return this.held.length;
  }

  async listen(): Promise<string> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  release(): void {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
  }

  events(): Array<{ id: string; type: string; sequence: number }> {
    return this.bodies.map((b) => JSON.parse(b) as { id: string; type: string; sequence: number });
  }

  close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    return new Promise((done) => this.server.close(() => done()));
  }
}

describe('webhooks of accounts that are not ACTIVE', () => {
  /** Waits for counts, generous: a CI machine under load is slow, and no assertion here is on time. */
  const WAIT_MS = 30000;
  let t: TestApp;
  let admin: TestUser;
  const gates: Gate[] = [];
  const gate = async (holding: boolean): Promise<{ g: Gate; url: string }> => {
    const g = new Gate();
    g.holding = holding;
    gates.push(g);
    return { g, url: await g.listen() };
  };
  const setStatus = async (user: TestUser, status: string) =>
    request(t.server)
      .patch(`/api/v1/admin/users/${user.id}/status`)
      .auth(admin.token, { type: 'bearer' })
      .send({ status })
      .expect(200);
  /** The sequenced events touching `userId` (all events when null) after `after`, oldest first. */
  const sequenced = async (userId: string | null, after: number) =>
    (
      await t.sql.query<{ id: string; sequence: number }>(
        `SELECT id, sequence::int AS sequence FROM numbered_events
          WHERE sequence > $2 AND ($1::uuid IS NULL OR $1 = ANY (user_ids)) ORDER BY sequence`,
        [userId, after],
      )
    ).rows;
  const head = async () =>
    (await t.sql.query<{ n: number }>(`SELECT coalesce(max(sequence), 0)::int AS n FROM event_sequence`))
      .rows[0].n;

  beforeAll(async () => {
    t = await startTestApp({
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_POLL_INTERVAL_MS: '50',
      WEBHOOK_ENDPOINT_CONCURRENCY: '1',
    });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await t.close();
    for (const g of gates) await g.close();
  });

  it('sends a SUSPENDED user and a CLOSED admin nothing, queued jobs included, and resumes from reactivation on', async () => {
    const sue = await fundedUser(t, admin, '100');
    const tom = await fundedUser(t, admin, '100');
    const closedAdmin = await createUser(t, { role: 'ADMIN' });
    const watcher = await createUser(t, { role: 'ADMIN' });
    const s = await gate(true);
    const x = await gate(false);
    const w = await gate(false);
    for (const [owner, url] of [
      [sue.user, s.url],
      [closedAdmin, x.url],
      [watcher, w.url],
    ] as const) {
      expect((await register(t, owner, { url })).status).toBe(201);
    }
    const start = await head();

    // Five events for sue's endpoint: the first is held on the wire (one at a time), four wait queued.
    for (let i = 0; i < 5; i++) await transfer(t, sue.user, tom.wallet.id, '1.0000');
    await eventually(
      async () => [s.g.waiting, (await sequenced(null, start)).length, w.g.bodies.length, x.g.bodies.length],
      ([held, all, seen, seenByX]) => held === 1 && seen === all && seenByX === all && all >= 5,
      WAIT_MS,
    );
    const beforeChange = x.g.bodies.length;
    expect(beforeChange).toBe(w.g.bodies.length);

    // The admin first: sue's suspension then happens while it is CLOSED (sent to it otherwise, rightly).
    await setStatus(closedAdmin, 'CLOSED');
    await setStatus(sue.user, 'SUSPENDED');
    s.g.release();
    // While they are not ACTIVE: a deposit to sue and a transfer to her, refused and recorded as FAILED
    // (events touching her), and others move money.
    for (const [who, path, body] of [
      [admin, `/api/v1/admin/wallets/${sue.wallet.id}/deposits`, { amount: '7', currency: 'USD' }],
      [tom.user, '/api/v1/transfers', { toWalletId: sue.wallet.id, amount: '2', currency: 'USD' }],
    ] as const) {
      const res = await request(t.server)
        .post(path)
        .auth(who.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send(body);
      expect([res.status, (res.body as { code: string }).code]).toEqual([422, 'ACCOUNT_INACTIVE']);
    }
    await deposit(t, admin, tom.wallet.id, '5');
    // 5 transfers, 2 status changes, 2 refusals, 1 deposit: all numbered and seen by the watcher.
    const whileOff = start + 10;
    await eventually(
      async () => [w.g.bodies.length, await head()],
      ([seen, n]) => seen === 10 && n === whileOff,
      WAIT_MS,
    );
    await new Promise((r) => setTimeout(r, 500));
    // Only the delivery already on the wire reached sue; nothing reached the closed admin after its closure.
    expect(s.g.bodies).toHaveLength(1);
    expect(x.g.bodies).toHaveLength(beforeChange);
    const { rows: jobs } = await t.sql.query<{ state: string; n: number }>(
      `SELECT d.state, count(*)::int AS n FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE e.user_id = $1 GROUP BY d.state ORDER BY d.state`,
      [sue.user.id],
    );
    // All five cancelled by the suspension, the one on the wire too (its outcome is not recorded).
    expect(jobs).toEqual([{ state: 'CANCELLED', n: 5 }]);

    // Active again: from then on, not what was missed.
    await setStatus(sue.user, 'ACTIVE');
    await setStatus(closedAdmin, 'ACTIVE');
    const after = await transfer(t, tom.user, sue.wallet.id, '3.0000');
    const expectedSue = await eventually(
      async () => (await sequenced(sue.user.id, whileOff)).map((e) => e.id),
      (ids) => ids.length === 2,
      WAIT_MS,
    );
    const expectedAdmin = await eventually(
      async () => await sequenced(null, whileOff),
      (es) => es.length === 3,
      WAIT_MS,
    );
    await eventually(
      async () => [s.g.bodies.length, x.g.bodies.length],
      ([sn, xn]) => sn === 1 + expectedSue.length && xn === beforeChange + expectedAdmin.length - 1,
      WAIT_MS,
    );
    await new Promise((r) => setTimeout(r, 500));
    const sueGot = s.g.events().slice(1);
    expect(sueGot.map((e) => e.id)).toEqual(expectedSue);
    expect(sueGot.map((e) => e.type)).toEqual(['user.status_changed', 'transaction.completed']);
    // The closed admin: its own reactivation and the transfer, not sue's reactivation (it was still CLOSED).
    const adminGot = x.g.events().slice(beforeChange);
    expect(adminGot.map((e) => e.id)).toEqual(expectedAdmin.slice(1).map((e) => e.id));
    expect(JSON.stringify(adminGot)).toContain(after.id);
  });
});

describe('webhook delivery when some receivers hang', () => {
  let t: TestApp;
  let admin: TestUser;
  /** Requests that are never answered, by path (/o<owner>/e<endpoint>), and how many ended early. */
  const hung: string[] = [];
  let endedEarly = 0;
  const hanging = createServer((req) => {
    hung.push(req.url ?? '');
    req.socket.on('close', () => (endedEarly += 1));
  });
  const healthy = new Receiver();

  beforeAll(async () => {
    // Attempts time out only after the test: every hanging attempt stays hung throughout.
    t = await startTestApp({
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_POLL_INTERVAL_MS: '50',
      WEBHOOK_TIMEOUT_MS: '60000',
    });
    admin = await createUser(t, { role: 'ADMIN' });
    await new Promise<void>((done) => hanging.listen(0, '127.0.0.1', done));
  });
  afterAll(async () => {
    await t.close();
    hanging.closeAllConnections();
    await new Promise((done) => hanging.close(done));
    await healthy.close();
  });

  it('delivers to a healthy endpoint while 4 owners x 10 endpoints hang, each owner and endpoint bounded', async () => {
    const base = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const payee = await fundedUser(t, admin, '0');
    for (let o = 0; o < 4; o++) {
      const owner = await fundedUser(t, admin, '100');
      for (let e = 0; e < 10; e++) {
        expect((await register(t, owner.user, { url: `${base}/o${o}/e${e}` })).status).toBe(201);
      }
      // Two events for each of the owner's endpoints: 80 jobs, older than any of the healthy one's.
      for (let i = 0; i < 2; i++) await transfer(t, owner.user, payee.wallet.id, '1.0000');
    }
    await eventually(
      async () => hung.length,
      (n) => n >= 4 * 8,
    );

    const h = await fundedUser(t, admin, '100');
    const hook = (await register(t, h.user, { url: await healthy.listen() })).body as Registered;
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) sent.push((await transfer(t, h.user, payee.wallet.id, '1.0000')).id);
    // Every one of the healthy endpoint's deliveries completes while every hanging attempt is still hung.
    const got = await eventually(
      async () => healthy.verified(hook.secret).map((e) => (e.data.transaction as { id: string }).id),
      (ids) => ids.length >= sent.length,
      20000,
    );
    expect(sorted(got)).toEqual(sorted(sent));
    expect(endedEarly).toBe(0);
    // What the hanging receivers hold: at most 8 attempts per owner, 2 per endpoint (the default).
    const perOwner = new Map<string, number>();
    const perEndpoint = new Map<string, number>();
    for (const path of hung) {
      const owner = path.split('/')[1];
      perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
      perEndpoint.set(path, (perEndpoint.get(path) ?? 0) + 1);
    }
    expect([...perOwner.values()]).toEqual([8, 8, 8, 8]);
    expect(Math.max(...perEndpoint.values())).toBeLessThanOrEqual(2);
  });

  it('gives up on a receiver that accepts TCP but never completes TLS after the connect time-out', async () => {
    // Accepts and says nothing: the TLS handshake never ends, the request is never even sent.
    const accepted: Socket[] = [];
    const silent = createNetServer((socket) => void accepted.push(socket));
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const sender = new WebhookSender(60000, 200);
    try {
      const port = (silent.address() as AddressInfo).port;
      const result = await sender.send(
        { url: new URL(`https://receiver.invalid:${port}/hook`), address: '127.0.0.1', family: 4 },
        { 'webhook-id': 'x' },
        '{}',
      );
      expect(result).toEqual({ ok: false, responseStatus: null, error: 'no connection within 200 ms' });
    } finally {
      sender.close();
      for (const socket of accepted) socket.destroy();
      await new Promise((done) => silent.close(done));
    }
  });
});

describe('webhook URLs (SSRF), with WEBHOOK_ALLOW_PRIVATE off', () => {
  let t: TestApp;
  let admin: TestUser;
  const receiver = new Receiver();

  beforeAll(async () => {
    t = await startTestApp({ WEBHOOK_POLL_INTERVAL_MS: '50' });
    admin = await createUser(t, { role: 'ADMIN' });
    await receiver.listen();
  });
  afterAll(async () => {
    await t.close();
    await receiver.close();
  });

  it('refuses http and hosts that are or resolve to loopback, private, link-local or special addresses', async () => {
    const user = await createUser(t);
    const refused = [
      'http://example.com/hook',
      `http://127.0.0.1:${receiver.port}/hook`,
      'https://127.0.0.1/hook',
      'https://127.1.2.3/hook',
      'https://0x7f.1/hook',
      'https://2130706433/hook',
      'https://localhost/hook',
      'https://10.1.2.3/hook',
      'https://172.16.0.1/hook',
      'https://192.168.1.1/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://100.64.0.1/hook',
      'https://0.0.0.0/hook',
      'https://224.0.0.1/hook',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://[fe80::1]/hook',
      'https://[fd00::1]/hook',
      'https://[::127.0.0.1]/hook',
      'https://[::7f00:1]/hook',
      'https://[::8.8.8.8]/hook',
      'https://user:pass@93.184.215.14/hook',
    ];
    for (const url of refused) {
      const res = await register(t, user, { url });
      expect([url, res.status, (res.body as { code: string }).code]).toEqual([
        url,
        400,
        'WEBHOOK_URL_REFUSED',
      ]);
    }
    // A name: the refusal says the host is not allowed, never what it resolved to, and reads the same for
    // a name that does not resolve at all (else the answers would map the internal DNS).
    const answers = new Set<string>();
    for (const url of ['https://localhost/hook', 'https://no-such-host.invalid/hook']) {
      const res = await register(t, user, { url });
      const { code, detail } = res.body as { code: string; detail: string };
      expect([url, res.status, code]).toEqual([url, 400, 'WEBHOOK_URL_REFUSED']);
      expect(detail).not.toMatch(/127\.0\.0\.1|::1|localhost|invalid/);
      answers.add(detail);
    }
    expect(answers.size).toBe(1);
    const { rows } = await t.sql.query(`SELECT 1 FROM webhook_endpoints WHERE user_id = $1`, [user.id]);
    expect(rows).toEqual([]);
    // A public address is accepted (an IP literal: no DNS needed).
    const ok = await register(t, user, { url: 'https://93.184.215.14/hook' });
    expect(ok.status).toBe(201);
  });

  it('checks the resolved address again at delivery, and never connects to a refused one', async () => {
    const { user, wallet } = await fundedUser(t, admin, '100');
    const other = await fundedUser(t, admin, '0');
    // An endpoint registered while its host was public, whose host now resolves to loopback (DNS
    // rebinding): written directly, as the API would refuse it now.
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const { rows } = await t.sql.query<{ id: string }>(
      `INSERT INTO webhook_endpoints (user_id, url, secret, created_at) VALUES ($1, $2, $3, now() - interval '1 minute') RETURNING id`,
      [user.id, `https://localhost:${receiver.port}/hook`, secret],
    );
    const moved = await transfer(t, user, other.wallet.id, '1.0000');
    expect(wallet.id).toBeDefined();
    const log = await eventually(
      async () =>
        (
          (
            await request(t.server)
              .get(`/api/v1/webhooks/${rows[0].id}/deliveries`)
              .auth(user.token, { type: 'bearer' })
              .expect(200)
          ).body as { items: Array<Record<string, unknown>> }
        ).items,
      (items) => items.length > 0,
    );
    expect(log[0]).toEqual(expect.objectContaining({ attempt: 1, status: 'FAILED', responseStatus: null }));
    const { rows: jobs } = await t.sql.query<{ state: string; attempts: number; event_id: string }>(
      `SELECT d.state, d.attempts, d.event_id FROM webhook_deliveries d WHERE endpoint_id = $1`,
      [rows[0].id],
    );
    expect(jobs).toEqual([expect.objectContaining({ state: 'PENDING', attempts: 1 })]);
    const { rows: ev } = await t.sql.query<{ data: { transaction: { id: string } } }>(
      `SELECT data FROM events WHERE id = $1`,
      [jobs[0].event_id],
    );
    expect(ev[0].data.transaction.id).toBe(moved.id);
    expect(receiver.connections).toBe(0);
    expect(await counterTotal([t], 'webhook_deliveries_total', { outcome: 'refused' })).toBeGreaterThan(0);
  });
});

describe('webhook delivery across instances', () => {
  let first: TestApp;
  let second: TestApp;
  let admin: TestUser;
  const servers: Server[] = [];

  beforeAll(async () => {
    const env = {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_POLL_INTERVAL_MS: '50',
      WEBHOOK_ENDPOINT_CONCURRENCY: '2',
    };
    first = await startTestApp(env);
    second = await startTestApp(env, first.db);
    admin = await createUser(first, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await second.close();
    await first.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((done) => s.close(done));
    }
  });

  it('shares the jobs: each event delivered once, never more than WEBHOOK_ENDPOINT_CONCURRENCY at a time', async () => {
    const payer = await fundedUser(first, admin, '100');
    const payee = await fundedUser(first, admin, '0');
    let open = 0;
    let most = 0;
    const got: string[] = [];
    const server = createServer((req, res) => {
      open += 1;
      most = Math.max(most, open);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        // Slow enough that the jobs of the burst overlap.
        setTimeout(() => {
          got.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }).id);
          open -= 1;
          res.writeHead(200).end('ok');
        }, 150);
      });
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    expect((await register(first, payer.user, { url })).status).toBe(201);

    const moved = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        transfer(i % 2 ? first : second, payer.user, payee.wallet.id, '1.0000'),
      ),
    );
    await eventually(
      async () => got.length,
      (n) => n >= moved.length,
      30000,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toHaveLength(moved.length);
    expect(new Set(got).size).toBe(moved.length);
    expect(most).toBe(2);
    // One successful attempt per event in all, whichever instance claimed it.
    const byInstance = await Promise.all(
      [first, second].map((t) => counterTotal([t], 'webhook_deliveries_total', { outcome: 'succeeded' })),
    );
    expect(byInstance.reduce((a, b) => a + b, 0)).toBe(moved.length);
  });

  it('connects to the address it checked, never resolving the host name again', async () => {
    const hosts: string[] = [];
    const server = createServer((req, res) => {
      hosts.push(String(req.headers.host));
      res.writeHead(204).end();
    });
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    // A host name that resolves nowhere (.invalid, RFC 6761): only the pinned address can reach the server.
    const sender = new WebhookSender(5000);
    try {
      const result = await sender.send(
        { url: new URL(`http://pinned.invalid:${port}/hook`), address: '127.0.0.1', family: 4 },
        { 'webhook-id': 'x' },
        '{}',
      );
      expect(result).toEqual({ ok: true, responseStatus: 204, error: null });
      expect(hosts).toEqual([`pinned.invalid:${port}`]);
      await expect(resolveWebhookTarget(`http://pinned.invalid:${port}/hook`, true)).rejects.toThrow(
        UrlRefused,
      );
    } finally {
      sender.close();
    }
  });

  it('prunes settled jobs and their log after the retention, as the service’s role, and keeps the rest', async () => {
    const owner = await createUser(first);
    const secret = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
    const { rows: ep } = await first.sql.query<{ id: string }>(
      `INSERT INTO webhook_endpoints (user_id, url, secret) VALUES ($1, 'https://93.184.215.14/', $2) RETURNING id`,
      [owner.id, secret],
    );
    const job = async (state: string, age: string) =>
      (
        await first.sql.query<{ id: string }>(
          `WITH d AS (
             INSERT INTO webhook_deliveries (endpoint_id, event_id, event_sequence, state, attempts, created_at)
             VALUES ($1, gen_random_uuid(), 0, $2, 1, now() - $3::interval) RETURNING id, endpoint_id, event_id)
           INSERT INTO webhook_attempts (delivery_id, endpoint_id, event_id, attempt, status)
           SELECT id, endpoint_id, event_id, 1, 'FAILED' FROM d RETURNING delivery_id::text AS id`,
          [ep[0].id, state, age],
        )
      ).rows[0].id;
    const old = [
      await job('SUCCEEDED', '31 days'),
      await job('FAILED', '40 days'),
      await job('CANCELLED', '31 days'),
    ];
    const kept = [await job('SUCCEEDED', '29 days'), await job('PENDING', '60 days')];
    const pool = new Pool({ ...first.db, max: 1, options: `-c role=${first.config.env.DB_APP_ROLE}` });
    try {
      expect(await new WebhookJobs(pool).prune(30, 1000)).toBe(old.length);
    } finally {
      await pool.end();
    }
    const { rows } = await first.sql.query<{ id: string }>(
      `SELECT id::text FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id`,
      [ep[0].id],
    );
    expect(rows.map((r) => r.id)).toEqual(kept);
    const { rows: log } = await first.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_attempts WHERE endpoint_id = $1`,
      [ep[0].id],
    );
    expect(log[0].n).toBe(kept.length);
  });
});
