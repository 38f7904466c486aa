// Issue 15's bench: transfers/s with the event relays on (NATS JetStream, and a webhook receiving every
// event) against off, in one run, and the outbox lag under that load. The bench's own service has neither
// (no NATS_URL, no webhook registered): it serves the "off" runs, before and after. The "on" run goes to a
// second instance of the same build on the same database, started with NATS_URL, while an admin's webhook
// points at a receiver in this process. Ratio: on / mean(off before, off after), target >= 0.9.
//
// Also runnable alone (`node bench/events.mjs [--quick]`): builds, starts and seeds like scripts/bench.mjs,
// runs only this scenario and prints its figures. BENCH_EVENTS_CONTROL=1 starts the "on" instance without
// NATS_URL: a control run, to tell the relay's cost from the second instance's own difference.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import pg from 'pg';
import { freePort } from '../scripts/lib/free-port.cjs';
import { distribution } from './distributions.mjs';
import { transferLoad } from './load.mjs';
import { log } from './report.mjs';
import {
  ADMIN,
  build,
  cpuSecondsOf as cpuSeconds,
  profileArgs,
  startInstance,
  startService,
} from './service.mjs';

export const EVENTS_TARGET = 0.9;
const NATS_URL = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';

/**
 * The "on" instance: the same build on the same database, with the NATS relay. BENCH_PROFILE=dir profiles
 * it too (relay.cpuprofile).
 */
function startRelayInstance(db, stream, prefix) {
  return startInstance(
    db,
    {
      ...(process.env.BENCH_EVENTS_CONTROL ? {} : { NATS_URL }),
      NATS_STREAM: stream,
      NATS_SUBJECT_PREFIX: prefix,
      WEBHOOK_ALLOW_PRIVATE: 'true',
    },
    { nodeArgs: profileArgs('relay.cpuprofile') },
  );
}

/** A webhook receiver that answers 204 at once, counting what it got. */
async function startReceiver() {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      res.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise((done) => server.listen(port, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: () => received,
    close: () => new Promise((done) => server.close(done)),
  };
}

/** The values of one metric in /metrics text, by its label set ('' when none). */
function metricValues(text, name) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m) out[m[1] ?? ''] = Number(m[2]);
  }
  return out;
}

const percentile = (all, p) => {
  const xs = all.filter((x) => typeof x === 'number');
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3);
};

async function api(base, method, path, token, body) {
  const r = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      // Only with a body: Fastify answers 400 to a JSON content type with an empty body, and the DELETE of
      // the bench's webhook, refused so, left it registered; the receiver gone, the off instance's
      // dispatcher then retried 80,000 deliveries through every later scenario (the limits' figures too).
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      'idempotency-key': randomUUID(),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : {} };
}

/**
 * Runs the scenario on the bench's context (`ctx.base` serves "off"; `ctx.db`, `ctx.users`, `ctx.q`) and
 * returns its figures: off, NATS only, NATS and a webhook, off again, each `o.seconds` long.
 */
export async function eventsScenario(ctx, o) {
  const d = distribution(`uniform-${o.wallets}`, o.wallets);
  // One closed-loop run, with the CPU the serving process spent per transfer (less noisy than transfers/s
  // on a shared machine: what the relays cost the instance that runs them).
  const load = async (base, duration, pid) => {
    // Every run starts right after a checkpoint. Without, the run after the backlog and the webhook drain
    // (a checkpoint due, full-page writes after it, autovacuum) served half the transfers of the first one
    // on the same instance with the same profile by area, its event loop idle 41% of the time: the
    // database, not the relay, made the ratio (127.0.0.1, full run: off 702 / 385 transfers/s).
    await ctx.q('CHECKPOINT');
    const cpu0 = pid ? cpuSeconds(pid) : 0;
    const r = await transferLoad({ base, users: ctx.users }, d, { connections: o.connections, duration });
    const ms = pid && r.transfers ? +(((cpuSeconds(pid) - cpu0) * 1000) / r.transfers).toFixed(3) : null;
    return { ...r, serviceCpuMsPerTransfer: ms };
  };
  const tps = (r) => Math.round(r.transfers / r.seconds);
  const figures = (r) => ({
    transfersPerSecond: tps(r),
    serviceCpuMsPerTransfer: r.serviceCpuMsPerTransfer,
    latencyMs: r.latencyMs,
    refused: r.refused,
  });
  const offPid = ctx.service?.pid;
  const tag = Date.now().toString(36);
  const stream = `HFTS_BENCH_${tag}`;
  const prefix = `hfts_bench_${tag}.events`;

  log(`events: relays off, ${o.connections} connections, ${o.seconds} s`);
  const offBefore = await load(ctx.base, o.seconds, offPid);

  // The new stream starts from now; once the relay instance is up and idle, its cursor is moved back by
  // BACKLOG events (as after a NATS outage): how fast the relay drains an outbox, and its CPU per event.
  const backlog = o.quick ? 5000 : 50000;
  await ctx.q(
    `INSERT INTO event_relay_cursors (stream, last_sequence) SELECT $1, coalesce(max(sequence), 0) FROM event_sequence`,
    [stream],
  );
  const receiver = await startReceiver();
  const on = await startRelayInstance(ctx.db, stream, prefix);
  const runs = {};
  let from = '0';
  let webhookAvailable = false;
  try {
    const [{ from: start }] = await ctx.q(
      `UPDATE event_relay_cursors SET last_sequence = greatest(0, last_sequence - $2)
        WHERE stream = $1 RETURNING last_sequence::text AS from`,
      [stream, backlog],
    );
    from = start;
    // An idle relay waits for the sequencer's notification (or its 30 s probe): the cursor moved behind its
    // back, so wake it as the sequencer would, or the drain would measure up to 30 s of waiting.
    await ctx.q(
      `SELECT pg_notify('hfts_events', (SELECT coalesce(max(sequence), 0)::text FROM event_sequence))`,
    );
    runs.backlog = await drainBacklog(on, start);
    log('events: backlog', JSON.stringify(runs.backlog));
    log('events: warm-up of the relay instance');
    await load(on.base, Math.max(5, o.warmupSeconds));
    runs.nats = await measureOn(on, () => load(on.base, o.seconds, on.pid), 'NATS');
    const admin = (await api(on.base, 'POST', '/auth/login', undefined, ADMIN)).body.accessToken;
    const hook = await api(on.base, 'POST', '/webhooks', admin, { url: receiver.url });
    webhookAvailable = hook.status === 201;
    if (webhookAvailable) {
      try {
        runs.natsAndWebhook = await measureOn(
          on,
          () => load(on.base, o.seconds, on.pid),
          'NATS and a webhook',
        );
        runs.natsAndWebhook.webhook.received = receiver.received();
      } finally {
        const removed = await api(on.base, 'DELETE', `/webhooks/${hook.body.id}`, admin);
        if (removed.status !== 204) log(`events: FAILED: the webhook's DELETE got ${removed.status}`);
      }
    } else {
      log(`events: webhook not registered (${hook.status}): NATS only`);
    }
  } finally {
    const code = await on.stop();
    if (code !== 0) log(`events: relay instance exited with ${code}`, on.output().slice(-2000));
    await receiver.close();
  }
  // Each event once: the stream (its own, deleted now) holds exactly the events numbered after `from`.
  const [{ events }] = await ctx.q(`SELECT count(*)::int AS events FROM event_sequence WHERE sequence > $1`, [
    from,
  ]);
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  const stored = process.env.BENCH_EVENTS_CONTROL ? null : (await jsm.streams.info(stream)).state.messages;
  await jsm.streams.delete(stream).catch(() => undefined);
  await nc.close();
  if (stored !== null && stored !== events) log(`events: FAILED: ${events} events, ${stored} in the stream`);

  log(`events: relays off again, ${o.connections} connections, ${o.seconds} s`);
  const offAfter = await load(ctx.base, o.seconds, offPid);
  const off = (tps(offBefore) + tps(offAfter)) / 2;
  const ratio = (run) => (run ? +(run.transfersPerSecond / Math.max(1, off)).toFixed(2) : null);
  const all = runs.natsAndWebhook ?? runs.nats;
  const r = {
    target: EVENTS_TARGET,
    offBefore: figures(offBefore),
    offAfter: figures(offAfter),
    nats: runs.nats,
    natsAndWebhook: runs.natsAndWebhook ?? null,
    // The figure: with every relay there is (NATS and webhooks) on, against off.
    ratio: ratio(all),
    ratioNatsOnly: ratio(runs.nats),
    webhookAvailable,
    backlog: runs.backlog,
    stream: { events, stored },
    errors: offBefore.errors + offAfter.errors + runs.nats.errors + (runs.natsAndWebhook?.errors ?? 0),
  };
  log('events', JSON.stringify(r));
  return r;

  /**
   * From the moment the cursor moved back until it is at the newest event again (read from the database,
   * not /metrics, whose scrapes would cost the instance CPU): events relayed per second and CPU per event.
   */
  async function drainBacklog(instance, first) {
    const started = Date.now();
    const cpu0 = cpuSeconds(instance.pid);
    let last = first;
    for (;;) {
      const [row] = await ctx.q(
        `SELECT c.last_sequence::text AS last, (SELECT max(sequence) FROM event_sequence)::text AS newest
           FROM event_relay_cursors c WHERE c.stream = $1`,
        [stream],
      );
      last = row.last;
      if (row.last === row.newest || Date.now() - started > 120000) break;
      await sleep(20);
    }
    const seconds = (Date.now() - started) / 1000;
    const events = Number(last) - Number(first);
    return {
      events,
      seconds: +seconds.toFixed(2),
      eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : null,
      serviceCpuUsPerEvent: events ? Math.round(((cpuSeconds(instance.pid) - cpu0) * 1e6) / events) : null,
    };
  }

  /** One loaded run on the relay instance, with the outbox lag sampled every 250 ms and the drain after. */
  async function measureOn(instance, run, label) {
    log(`events: relays on (${label}), ${o.connections} connections, ${o.seconds} s`);
    const lag = { unrelayed: [], unsequenced: [], webhook: [] };
    const metrics0 = await fetch(`${instance.base}/metrics`).then((x) => x.text());
    const sampler = setInterval(() => {
      fetch(`${instance.base}/metrics`)
        .then((x) => x.text())
        .then((text) => {
          const l = metricValues(text, 'events_outbox_lag_seconds');
          lag.unrelayed.push(l['{state="unrelayed"}']);
          lag.unsequenced.push(l['{state="unsequenced"}']);
          const w = metricValues(text, 'webhook_lag_seconds')[''];
          if (w !== undefined) lag.webhook.push(w);
        })
        .catch(() => undefined);
    }, 250);
    const result = await run();
    clearInterval(sampler);
    // Drain: how long after the load the relay has published everything (and the webhooks, delivered).
    const stopped = Date.now();
    const drain = { natsMs: null, webhookMs: null };
    while (Date.now() - stopped < 60000 && (drain.natsMs === null || drain.webhookMs === null)) {
      const text = await fetch(`${instance.base}/metrics`).then((x) => x.text());
      const l = metricValues(text, 'events_outbox_lag_seconds');
      if (drain.natsMs === null && !l['{state="unrelayed"}'] && !l['{state="unsequenced"}'])
        drain.natsMs = Date.now() - stopped;
      if (drain.webhookMs === null && (metricValues(text, 'webhook_lag_seconds')[''] ?? 0) === 0)
        drain.webhookMs = Date.now() - stopped;
      await sleep(50);
    }
    const metrics1 = await fetch(`${instance.base}/metrics`).then((x) => x.text());
    const delta = (name, labels = '') =>
      (metricValues(metrics1, name)[labels] ?? 0) - (metricValues(metrics0, name)[labels] ?? 0);
    const sum = (text, name) => Object.values(metricValues(text, name)).reduce((a, b) => a + b, 0);
    return {
      ...figures(result),
      errors: result.errors,
      lagSeconds: {
        unrelayed: {
          p50: percentile(lag.unrelayed, 50),
          p99: percentile(lag.unrelayed, 99),
          max: percentile(lag.unrelayed, 100),
        },
        unsequenced: { p50: percentile(lag.unsequenced, 50), max: percentile(lag.unsequenced, 100) },
        webhook: lag.webhook.length
          ? { p50: percentile(lag.webhook, 50), max: percentile(lag.webhook, 100) }
          : null,
        samples: lag.unrelayed.length,
      },
      drain,
      relayed: delta('events_relayed_total'),
      relayErrors: sum(metrics1, 'events_relay_errors_total') - sum(metrics0, 'events_relay_errors_total'),
      webhook: { succeeded: delta('webhook_deliveries_total', '{outcome="succeeded"}') },
    };
  }
}

// Alone: build, start, seed, run this scenario only.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { options } = await import('./scenarios.mjs');
  const { seedWallets, checkAccess } = await import('./seeding.mjs');
  const o = options(process.argv);
  if (!build()) process.exit(1);
  const stamp = `ev${Date.now()}`;
  const service = await startService(stamp);
  const pool = new pg.Pool({ ...service.db, max: 4 });
  const q = (sql, params) => pool.query(sql, params).then((r) => r.rows);
  let failed = false;
  try {
    const users = await seedWallets(q, { count: o.wallets, balance: o.balance });
    await checkAccess(service.base, users);
    log('warm-up');
    await transferLoad({ base: service.base, users }, distribution('w', o.wallets), {
      connections: o.connections,
      duration: o.warmupSeconds,
    });
    await eventsScenario({ base: service.base, db: service.db, service, users, q }, o);
  } catch (err) {
    console.error(err);
    failed = true;
  }
  await pool.end();
  await service.stop();
  process.exit(failed ? 1 : 0);
}
