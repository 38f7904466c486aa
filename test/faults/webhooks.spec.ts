import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import {
  buildOnce,
  checkInvariants,
  Client2,
  freePort,
  type Outcome,
  Postgres,
  Service,
  setUp,
  sleep,
} from './support/harness';

interface Delivery {
  eventId: string;
  attempt: number;
  status: 'SUCCEEDED' | 'FAILED';
  responseStatus: number | null;
  at: string;
}

/**
 * Webhook receivers that are down or slow, against the built service and a PostgreSQL of the suite's own,
 * with the retry schedule shrunk (WEBHOOK_RETRY_SCALE=0.01: 50 ms, 300 ms, 1.2 s, 6 s...). Money keeps
 * moving throughout, and every event reaches the receiver once it is back.
 */
describe('webhook receivers down or slow', () => {
  const pg = new Postgres();
  let service: Service;
  let client: Client2;
  let users: Array<{ token: string; wallet: string }>;
  const servers: Server[] = [];

  beforeAll(async () => {
    buildOnce();
    await pg.start();
    service = new Service(pg, {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      // A test hook, read only when NODE_ENV=test (src/config/test-hooks.ts).
      NODE_ENV: 'test',
      WEBHOOK_RETRY_SCALE: '0.01',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_POLL_INTERVAL_MS: '50',
    });
    await service.start();
    client = new Client2(() => service.url);
    ({ users } = await setUp(client, 4));
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    service?.signal('SIGKILL');
    await pg.stopFast().catch(() => undefined);
  });

  async function listen(port: number, handler: RequestListener): Promise<Server> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
    return server;
  }

  async function sql<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const c = pg.client();
    await c.connect();
    try {
      return (await c.query(text, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  async function deliveries(token: string, id: string): Promise<Delivery[]> {
    const r = await client.call('GET', `/webhooks/${id}/deliveries`, token);
    expect(r.status).toBe(200);
    return r.body.items as Delivery[];
  }

  it('retries a receiver that is down, then answering 503, and delivers everything once it is back; no transfer waits', async () => {
    const [down, slow] = users;
    const port = await freePort();
    const hook = await client.call('POST', '/webhooks', down.token, { url: `http://127.0.0.1:${port}/hook` });
    expect(hook.status).toBe(201);
    const { id, secret } = hook.body as { id: string; secret: string };
    // A receiver that accepts connections and never answers: every attempt runs into the time-out.
    const hangingPort = await freePort();
    await listen(hangingPort, () => undefined);
    const slowHook = await client.call('POST', '/webhooks', slow.token, {
      url: `http://127.0.0.1:${hangingPort}/hook`,
    });
    expect(slowHook.status).toBe(201);

    // Load for 3 s: nothing listens for the first 1.5 s, then the receiver answers 503 until 3 s.
    const received = new Map<string, number>();
    let mode: 'unavailable' | 'up' = 'unavailable';
    const webhook = new Webhook(secret);
    const started = Date.now();
    const outcomes: Outcome[] = [];
    const seen: number[] = [];
    const load = (async () => {
      for (let i = 0; Date.now() - started < 3000; i++) {
        const from = users[i % users.length];
        const to = users[(i + 1) % users.length];
        outcomes.push(await client.transfer(from.token, to.wallet, '0.0100', Date.now() + 20000, seen));
        // A few dozen movements: the delivery log (its latest 100 attempts) then holds every attempt.
        await sleep(100);
      }
    })();
    await sleep(1500);
    await listen(port, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (mode === 'unavailable') {
          res.writeHead(503).end();
          return;
        }
        const h: IncomingHttpHeaders = req.headers;
        const event = webhook.verify(Buffer.concat(chunks).toString('utf8'), {
          'webhook-id': String(h['webhook-id']),
          'webhook-timestamp': String(h['webhook-timestamp']),
          'webhook-signature': String(h['webhook-signature']),
        }) as { id: string };
        received.set(event.id, (received.get(event.id) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    await load;
    mode = 'up';

    // No movement was refused or failed while the receivers were away.
    expect(outcomes.length).toBeGreaterThan(10);
    expect(outcomes.filter((o) => o.status !== 201)).toEqual([]);
    await checkInvariants(pg, outcomes);

    // Every event touching the user reaches the receiver, each once.
    const expected = (
      await sql<{ id: string }>(
        `SELECT e.id FROM events e, webhook_endpoints w
          WHERE w.id = $1 AND e.created_at >= w.created_at AND w.user_id = ANY (e.user_ids)`,
        [id],
      )
    ).map((r) => r.id);
    expect(expected.length).toBeGreaterThan(0);
    for (let i = 0; i < 600 && !expected.every((e) => received.has(e)); i++) await sleep(100);
    expect(expected.filter((e) => !received.has(e))).toEqual([]);
    expect([...received.values()].filter((n) => n !== 1)).toEqual([]);

    // The log shows the failed attempts: nothing answered (null) while down, then 503, then success.
    const log = await deliveries(down.token, id);
    const failed = log.filter((d) => d.status === 'FAILED');
    expect(failed.some((d) => d.responseStatus === null)).toBe(true);
    expect(failed.some((d) => d.responseStatus === 503)).toBe(true);
    expect(failed.every((d) => d.responseStatus === null || d.responseStatus >= 500)).toBe(true);
    const byEvent = new Map<string, Delivery[]>();
    for (const d of log) byEvent.set(d.eventId, [...(byEvent.get(d.eventId) ?? []), d]);
    const retried = [...byEvent.values()].filter((ds) => ds.length > 1);
    expect(retried.length).toBeGreaterThan(0);
    for (const ds of retried) {
      // Newest first: the last attempt succeeded, the ones before it failed, numbered 1..n.
      expect(ds.map((d) => d.attempt)).toEqual(ds.map((_, i) => ds.length - i));
      expect(ds.map((d) => d.status)).toEqual(['SUCCEEDED', ...Array<string>(ds.length - 1).fill('FAILED')]);
    }

    // The hanging receiver's attempts time out, are logged with no response, and stay due for retries.
    const slowLog = await deliveries(slow.token, (slowHook.body as { id: string }).id);
    expect(slowLog.length).toBeGreaterThan(0);
    expect(slowLog.every((d) => d.status === 'FAILED' && d.responseStatus === null)).toBe(true);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/webhook_deliveries_total\{outcome="unreachable"\} [1-9]/);
    expect(metrics).toMatch(/webhook_deliveries_total\{outcome="failed"\} [1-9]/);
    expect(metrics).toMatch(/webhook_deliveries_total\{outcome="succeeded"\} [1-9]/);
    expect(metrics).toMatch(/^webhook_lag_seconds \d/m);
  });

  it('keeps its jobs through a SIGKILL mid-delivery: they are sent again once their lease runs out', async () => {
    const [, , payer, payee] = users;
    const port = await freePort();
    const held: Array<() => void> = [];
    const delivered = new Map<string, number>();
    let holding = true;
    await listen(port, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = (): void => {
          const { id } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string };
          delivered.set(id, (delivered.get(id) ?? 0) + 1);
          res.writeHead(204).end();
        };
        // Before the kill, requests are held unanswered: the deliveries are in flight when it comes.
        if (holding) held.push(answer);
        else answer();
      });
    });
    const hook = await client.call('POST', '/webhooks', payer.token, {
      url: `http://127.0.0.1:${port}/hook`,
    });
    expect(hook.status).toBe(201);
    const { id } = hook.body as { id: string };
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 6; i++) {
      outcomes.push(await client.transfer(payer.token, payee.wallet, '0.0100', Date.now() + 20000, []));
    }
    expect(outcomes.map((o) => o.status)).toEqual(Array<number>(6).fill(201));
    for (let i = 0; i < 100 && held.length === 0; i++) await sleep(100);
    expect(held.length).toBeGreaterThan(0);

    service.signal('SIGKILL');
    await service.exit;
    holding = false;
    await service.start();

    const expected = (
      await sql<{ id: string }>(
        `SELECT e.id FROM events e, webhook_endpoints w
          WHERE w.id = $1 AND e.created_at >= w.created_at AND w.user_id = ANY (e.user_ids)`,
        [id],
      )
    ).map((r) => r.id);
    expect(expected).toHaveLength(6);
    // The claims of the killed instance lapse after WEBHOOK_TIMEOUT_MS + 20 s; then the new one sends them.
    for (let i = 0; i < 600 && !expected.every((e) => delivered.has(e)); i++) await sleep(100);
    expect(expected.filter((e) => !delivered.has(e))).toEqual([]);
    const log = await deliveries(payer.token, id);
    expect(new Set(log.filter((d) => d.status === 'SUCCEEDED').map((d) => d.eventId))).toEqual(
      new Set(expected),
    );
    const jobs = await sql<{ state: string; n: number }>(
      `SELECT state, count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY state`,
      [id],
    );
    expect(jobs).toEqual([{ state: 'SUCCEEDED', n: 6 }]);
  });
});
