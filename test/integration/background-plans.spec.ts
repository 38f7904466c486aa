import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'nats';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';

/**
 * Issue 22, item 1, for the work no request waits for: the event relay (its passes, its idle probe and the
 * outbox lag of /metrics), the webhook dispatcher (fan-out, probe, lag) and the ledger's appender, on an
 * events table that is already large. They read events and event_sequence by index, never by sequential
 * scan. Until 2026-12-06 `max(sequence)` of the numbered_events view (the relay's and the dispatcher's
 * probes) and the lag gauges (a join to the cursor with min()) were hash joins over sequential scans of
 * events, once per probe and per scrape. Counts from pg_stat_user_tables, never timings.
 */
const NATS = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
/** Events made before the measured window: large enough that any sequential scan is seen as one. */
const EVENTS = 6000;
const BATCH = 100;
/** pg_stat_user_tables is flushed by an idle backend within 10 s (PGSTAT_IDLE_INTERVAL). */
const STATS_FLUSH_MS = 11000;

describe('background readers of the events, on a large events table', () => {
  let t: TestApp;
  let admin: TestUser;
  const stream = `HFTS_TEST_PLANS_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    t = await startTestApp({
      NATS_URL: NATS,
      NATS_STREAM: stream,
      NATS_SUBJECT_PREFIX: `${stream.toLowerCase()}.events`,
      WEBHOOK_DISPATCHER: 'true',
      LEDGER_APPENDER: 'true',
    });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await t.close();
    const nc = await connect({ servers: NATS });
    await (await nc.jetstreamManager()).streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  const batchOf = (from: TestUser, to: string, n: number) =>
    request(t.server)
      .post('/api/v1/transfers/batch')
      .auth(from.token, { type: 'bearer' })
      .set('Idempotency-Key', randomUUID())
      .send({
        atomic: false,
        transfers: Array.from({ length: n }, () => ({ toWalletId: to, amount: '0.01', currency: 'USD' })),
      });
  /**
   * The newest sequence once it has stayed put for half a second with the relay's and the dispatcher's
   * cursors and the ledger's tree at it (by index: this test's own reads must not scan either table).
   */
  const caughtUp = async (): Promise<number> => {
    let last = -1;
    let stableSince = Date.now();
    for (let i = 0; i < 1200; i++) {
      const { rows } = await t.sql.query<{ newest: number; done: boolean }>(
        `SELECT (SELECT coalesce(max(sequence), 0) FROM event_sequence)::int AS newest,
                (SELECT coalesce(max(sequence), 0) FROM event_sequence) = ALL (ARRAY[
                  (SELECT last_sequence FROM event_relay_cursors WHERE stream = $1),
                  (SELECT last_sequence FROM webhook_cursor WHERE id = 1),
                  (SELECT coalesce(max(idx) + 1, 0) FROM ledger_nodes WHERE level = 0)]) AS done`,
        [stream],
      );
      const { newest, done } = rows[0];
      if (newest !== last) [last, stableSince] = [newest, Date.now()];
      if (done && Date.now() - stableSince >= 500) return newest;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the sequencer, the relay, the dispatcher or the appender did not catch up');
  };
  const scans = async () => {
    const { rows } = await t.sql.query<{ relname: string; seq_scan: number; seq_tup_read: number }>(
      `SELECT relname, seq_scan::int, seq_tup_read::float8 AS seq_tup_read FROM pg_stat_user_tables
        WHERE relname IN ('events', 'event_sequence')`,
    );
    return Object.fromEntries(rows.map((r) => [r.relname, r]));
  };

  it('probes, lags, relays, fans out and appends without a sequential scan of events or event_sequence', async () => {
    const a = await fundedUser(t, admin, '1000');
    const b = await fundedUser(t, admin, '0');
    for (let made = 0; made < EVENTS; made += BATCH) {
      const res = await batchOf(a.user, b.wallet.id, BATCH);
      expect(res.status).toBe(200);
    }
    expect(await caughtUp()).toBeGreaterThanOrEqual(EVENTS);
    // ANALYZE as autovacuum would in a while: the plans below are made for the tables as they are.
    await t.sql.query('ANALYZE events, event_sequence');
    await new Promise((r) => setTimeout(r, STATS_FLUSH_MS));
    const before = await scans();

    // Busy: a few more movements (relay and appender passes, a fan-out, notifications), scrapes of the
    // lag gauges while they are behind and after; then idle long enough for the probes.
    for (let i = 0; i < 5; i++) {
      expect((await batchOf(a.user, b.wallet.id, 10)).status).toBe(200);
      const metrics = await request(t.server).get('/metrics');
      expect(metrics.text).toMatch(/^events_outbox_lag_seconds\{state="unsequenced"\} /m);
      expect(metrics.text).toMatch(/^webhook_lag_seconds /m);
    }
    expect(await caughtUp()).toBeGreaterThanOrEqual(EVENTS + 50);
    await request(t.server).get('/metrics').expect(200);
    await new Promise((r) => setTimeout(r, STATS_FLUSH_MS));
    const after = await scans();

    const seqScans = Object.fromEntries(
      ['events', 'event_sequence'].map((n) => [n, after[n].seq_scan - before[n].seq_scan]),
    );
    expect(seqScans).toEqual({ events: 0, event_sequence: 0 });
    await expectLedgerConsistent(t, admin);
  }, 300000);
});
