import { connect, type JetStreamManager, type NatsConnection, type StoredMsg } from 'nats';
import {
  buildOnce,
  checkInvariants,
  Client2,
  lastSeq,
  type Outcome,
  Postgres,
  Service,
  setUp,
  sleep,
  status,
} from './support/harness';
import { NatsServer } from './support/nats-server';

/**
 * The relay to NATS JetStream under faults, with real processes: the suite's own PostgreSQL, its own
 * nats-server (-js, a store directory of its own, a free port) and the built service. A broker outage
 * must never refuse a movement, and no event may be lost or stored twice: not when NATS goes away under
 * load, nor when the service dies between the PubAcks and the cursor update.
 */
const STREAM = 'HFTS_FAULTS';
const PREFIX = 'hfts.faults.events';

describe('events relayed to NATS JetStream, under faults', () => {
  const pg = new Postgres();
  const nats = new NatsServer();
  let service: Service;
  let client: Client2;
  let users: Array<{ token: string; wallet: string }>;
  let nc: NatsConnection | undefined;

  const env = (extra: Record<string, string> = {}) => ({
    NATS_URL: nats.url,
    NATS_STREAM: STREAM,
    NATS_SUBJECT_PREFIX: PREFIX,
    NATS_RELAY_INTERVAL_MS: '20',
    NATS_RELAY_BATCH: '25',
    ...extra,
  });

  beforeAll(async () => {
    buildOnce();
    await pg.start();
    await nats.start();
    service = new Service(pg, env());
    await service.start();
    client = new Client2(() => service.url);
    ({ users } = await setUp(client, 6));
  });
  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    service?.signal('SIGKILL');
    await service?.exit;
    await nats.remove();
    await pg.stopFast().catch(() => undefined);
  });

  /** A JetStream manager on the suite's server (a new connection after the server restarted). */
  async function manager(): Promise<JetStreamManager> {
    if (!nc || nc.isClosed()) nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
    return nc.jetstreamManager();
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

  /** Every message of the stream, in stream order. */
  async function messages(): Promise<StoredMsg[]> {
    const jsm = await manager();
    const info = await jsm.streams.info(STREAM);
    const out: StoredMsg[] = [];
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      out.push(await jsm.streams.getMessage(STREAM, { seq }));
    }
    return out;
  }

  /** Waits until every committed event is numbered and in the stream; returns the events by sequence. */
  async function allRelayed(): Promise<Array<{ id: string; type: string; tx: string | null }>> {
    const deadline = Date.now() + 60000;
    for (;;) {
      const [{ all, open }] = await sql<{ all: number; open: number }>(
        `SELECT count(*)::int AS all, count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM event_sequence s WHERE s.event_id = e.id))::int AS open FROM events e`,
      );
      const stored = await manager()
        .then((jsm) => jsm.streams.info(STREAM))
        .then(
          (i) => i.state.messages,
          () => -1,
        );
      if (open === 0 && stored >= all) break;
      if (Date.now() > deadline)
        throw new Error(`not relayed: ${all} events, ${open} unnumbered, ${stored} stored`);
      await sleep(100);
    }
    await sleep(500); // more passes: anything sent twice would show now
    return sql(
      `SELECT id::text, type, data->'transaction'->>'id' AS tx FROM numbered_events ORDER BY sequence`,
    );
  }

  /** The stream holds each event exactly once, in sequence order, under its own subject. */
  async function expectEachEventOnce(): Promise<StoredMsg[]> {
    const events = await allRelayed();
    const stored = await messages();
    const ids = stored.map((m) => m.header?.get('Nats-Msg-Id'));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(events.map((e) => e.id));
    expect(stored.map((m) => m.subject)).toEqual(events.map((e) => `${PREFIX}.${e.type}`));
    return stored;
  }

  async function metric(name: string): Promise<number | undefined> {
    const text = await fetch(`${service.url}/metrics`).then((r) => r.text());
    const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  }

  /** `workers` careful clients (same key on an unknown outcome) sending transfers until `ms` from now. */
  async function load(ms: number, workers = 4): Promise<Outcome[]> {
    const until = Date.now() + ms;
    const outcomes: Outcome[] = [];
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let i = 0; Date.now() < until; i++) {
          const from = users[(w + i) % users.length];
          const to = users[(w + i + 1 + (i % 3)) % users.length];
          outcomes.push(await client.transfer(from.token, to.wallet, '0.0100', until + 30000, seen));
        }
      }),
    );
    return outcomes;
  }

  it('refuses no movement while NATS is down, and publishes every event once after it returns', async () => {
    await expectEachEventOnce(); // the set-up's deposits
    const since = await lastSeq(pg);
    const running = load(7000);
    await sleep(1500);
    await nats.stop();
    // While NATS is away: the instance stays ready, transfers complete, the outbox grows.
    await sleep(2500);
    expect(await status(`${service.url}/health/ready`)).toBe(200);
    expect(await metric('events_relay_nats_connected')).toBe(0);
    expect(await metric('events_outbox_lag_seconds{state="unrelayed"}')).toBeGreaterThan(1);
    const [{ waiting }] = await sql<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM events e, event_relay_cursors c
        WHERE c.stream = $1
          AND coalesce((SELECT s.sequence > c.last_sequence FROM event_sequence s WHERE s.event_id = e.id), true)`,
      [STREAM],
    );
    expect(waiting).toBeGreaterThan(0);
    await nats.start();
    const outcomes = await running;

    // No movement was refused or delayed into a retry because of the broker.
    expect(outcomes.filter((o) => o.status !== 201 || o.attempts > 1)).toEqual([]);
    await checkInvariants(pg, outcomes, since);
    const stored = await expectEachEventOnce();
    // None lost: every completed transfer's event is in the stream.
    const inStream = new Set(
      stored.map((m) => m.json<{ data: { transaction?: { id: string } } }>().data.transaction?.id ?? ''),
    );
    expect(outcomes.filter((o) => !inStream.has(o.id ?? ''))).toEqual([]);
    expect(await metric('events_outbox_lag_seconds{state="unrelayed"}')).toBe(0);
  });

  it('after a SIGKILL between the PubAcks and the cursor update, the re-send is dropped: each event once', async () => {
    await expectEachEventOnce();
    const since = await lastSeq(pg);
    // This instance kills itself right after the PubAcks that take it past 40 published events.
    service.signal('SIGTERM');
    await service.exit;
    // A test hook, read only when NODE_ENV=test (src/config/test-hooks.ts).
    service = new Service(pg, env({ NODE_ENV: 'test', NATS_RELAY_TEST_KILL_AFTER: '40' }));
    await service.start();
    const running = load(8000);
    const code = await Promise.race([service.exit, sleep(15000).then(() => 'alive')]);
    expect(code).toBeNull(); // killed by a signal

    // The stream is ahead of the cursor: those events were acknowledged, and the crash lost the mark.
    const [{ last }] = await sql<{ last: string }>(
      `SELECT last_sequence::text AS last FROM event_relay_cursors WHERE stream = $1`,
      [STREAM],
    );
    const [{ marked }] = await sql<{ marked: number }>(
      `SELECT count(*)::int AS marked FROM numbered_events WHERE sequence <= $1`,
      [last],
    );
    const before = (await messages()).length;
    expect(before).toBeGreaterThan(marked);

    // Restarted without the hook: it sends those events again, and JetStream drops every one of them.
    service = new Service(pg, env());
    await service.start();
    const outcomes = await running;
    await checkInvariants(pg, outcomes, since);
    await expectEachEventOnce();
    expect(await metric('events_relay_duplicates_total')).toBe(before - marked);
  });
});
