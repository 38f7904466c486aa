#!/usr/bin/env node
// The verifiable ledger's cost (issue 25 item 6), on its own: `npm run build`, then
//   POSTGRES_HOST=127.0.0.1 POSTGRES_USER=postgres node bench/verifiable-ledger.mjs [--quick] [--write]
//     [--only=transfers|proofs] [--leaves=N]
// (an external PostgreSQL: two instances share one database). Prints one JSON object; a full run (or
// --write) saves it in bench/results/verifiable-ledger/ and writes BENCHMARKS.md again (its "Verifiable
// ledger" section):
// - transfersPerSecond off / on: closed-loop POST /transfers (32 connections), in rounds off, on, on, off
//   twice (quick: off, on), each on a fresh instance with LEDGER_APPENDER false or true (the appender in the
//   serving process), warmed up alike, after a CHECKPOINT; the median of the ratios of neighbouring rounds
//   (target >= 0.95; and the ratio of the means), and the CPU per transfer of the serving process and of
//   PostgreSQL (this database's backends) in each round, with its ratio off / on per pair;
// - appender.leavesPerSecond: after the rounds, 100,000 copies of events are numbered, and an instance with
//   the appender drains them, 10,000 leaves a pass; measured between its first and last checkpoints of the
//   drain;
// - lagMs: for every event of the rounds with the appender on, from its write (created_at) to the signing
//   of the first checkpoint that covers it (the checkpoint's created_at, stamped when signed): p50, p99,
//   max (the worse round's);
// - proofs at a million leaves: a fresh database whose tree is synthesized (1,000,000 leaves of random hashes
//   and every complete subtree above them, straight into ledger_nodes, and a checkpoint of that size), then
//   GET /ledger/proofs/inclusion (random real events, as an admin; at the newest size, and at a random size,
//   which the service has not cached) and /proofs/consistency (random sizes to the head), on 1 and on 8
//   connections: p50, p99 (target p99 < 10 ms), beside GET /health/live (the HTTP path alone) and GET
//   /ledger/checkpoint (one indexed read), measured by the same client in the same run.
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { distribution } from './distributions.mjs';
import { latencyOf, transferLoad } from './load.mjs';
import { pairedRatios } from './paired-runs.mjs';
import { saveLedgerRun, writeBenchmarks } from './benchmarks-md.mjs';
import { gitCommit, log } from './report.mjs';
import { seedWallets } from './seeding.mjs';
import { ADMIN, profileArgs, startInstance, startService } from './service.mjs';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 5 : 20;
const CONNECTIONS = 32;
const WALLETS = 1000;
const BACKLOG = quick ? 30_000 : 100_000;
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
// --leaves=N: the synthesized tree's size (quick runs: 100,000).
const LEAVES = Number(arg('leaves') ?? (quick ? 100_000 : 1_000_000));
const TARGET_RATIO = 0.95;
const TARGET_PROOF_P99_MS = 10;
/** Proofs are measured on one connection (a client's latency) and on 8 (the service busy). */
const PROOF_CONNECTIONS = [1, 8];

if (!process.env.POSTGRES_HOST)
  throw new Error('set POSTGRES_HOST (and POSTGRES_USER...): two instances share one database');

/** Drops a bench database once its service has stopped. */
async function drop(db) {
  const admin = new pg.Client({ ...db, database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db.database} WITH (FORCE)`);
  await admin.end();
}

const connect = async (db) => {
  const pool = new pg.Pool({ ...db, max: 2 });
  return { pool, q: (sql, params) => pool.query(sql, params).then((r) => r.rows) };
};
const tps = (r) => Math.round(r.transfers / r.seconds);

/**
 * The rounds of the on/off comparison: two cycles of ABBA (quick: one pair). Each round is paired with its
 * neighbour ((1,2), (3,4), ...) and the figure is the median of the pairs' ratios, as in bench/limits.mjs:
 * this VM's speed drifts and steps (the same round's CPU per transfer moved by 20% from one run to the next),
 * which moves a mean of all rounds but only one pair. One ABBA gave 0.973 and 0.933 in two runs.
 */
const ROUNDS = quick ? ['off', 'on'] : ['off', 'on', 'on', 'off', 'off', 'on', 'on', 'off'];

async function transfersAndLag() {
  process.env.LEDGER_APPENDER = 'false';
  // The database's owner: it migrates, is seeded through, and stays up (idle) through every round, so
  // that each round runs beside the same background.
  const owner = await startService(`ledger_${Date.now().toString(36)}`);
  const { pool, q } = await connect(owner.db);
  try {
    const users = await seedWallets(q, { count: WALLETS, balance: '1000000.0000' });
    const d = distribution(`uniform-${WALLETS}`, WALLETS);
    const head = async () => {
      const [r] = await q(
        `SELECT coalesce((SELECT max(sequence) FROM event_sequence), 0)::int AS sequence,
                coalesce((SELECT max(tree_size) FROM ledger_checkpoints), 0)::int AS tree`,
      );
      return r;
    };
    // Each round on a fresh instance, with the appender off or on (in the serving process), warmed up alike
    // (a fresh process runs its transfer path unoptimized for its first seconds), after a CHECKPOINT. Once
    // these were one long-lived instance off against a fresh one on that had just drained a backlog of
    // 100,000 events: its garbage and the autovacuum of that backlog fell on "on" alone (0.67-0.79).
    const rounds = [];
    for (const [i, mode] of ROUNDS.entries()) {
      const on = mode === 'on';
      const instance = await startInstance(
        owner.db,
        { LEDGER_APPENDER: String(on) },
        { nodeArgs: profileArgs(`ledger-${mode}-${i + 1}.cpuprofile`) },
      );
      try {
        // With the appender on, the tree first takes in what earlier rounds wrote (a few thousand leaves).
        for (let t = 0; on && t < 600; t++) {
          const h = await head();
          if (h.tree >= h.sequence) break;
          await sleep(200);
        }
        log(`ledger bench: round ${i + 1}, appender ${mode}: warm-up`);
        await transferLoad({ base: instance.base, users }, d, {
          connections: CONNECTIONS,
          duration: quick ? 2 : 5,
        });
        await sleep(1000);
        await q('CHECKPOINT');
        const from = (await head()).sequence;
        log(`ledger bench: round ${i + 1}, appender ${mode}, ${CONNECTIONS} connections, ${SECONDS} s`);
        const cpu0 = instance.cpuSeconds();
        const pg0 = owner.postgresCpuSeconds();
        const r = await transferLoad({ base: instance.base, users }, d, {
          connections: CONNECTIONS,
          duration: SECONDS,
        });
        const perTransfer = (seconds) =>
          r.transfers && seconds !== null ? +((seconds * 1000) / r.transfers).toFixed(3) : null;
        const round = {
          mode,
          perSecond: tps(r),
          serviceCpuMs: perTransfer(instance.cpuSeconds() - cpu0),
          postgresCpuMs: perTransfer(pg0 === null ? null : owner.postgresCpuSeconds() - pg0),
          refused: r.refused,
        };
        if (on) {
          // Every event of the round reaches a checkpoint, then: from its write (created_at) to the signing
          // of the first checkpoint that covers it.
          for (let t = 0; t < 100; t++) {
            const h = await head();
            if (h.tree >= h.sequence) break;
            await sleep(100);
          }
          const [lag] = await q(
            `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max, count(*)::int AS events
               FROM (SELECT extract(epoch FROM c.created_at - e.created_at) * 1000 AS ms
                       FROM numbered_events e
                       CROSS JOIN LATERAL (SELECT created_at FROM ledger_checkpoints
                                            WHERE tree_size >= e.sequence ORDER BY tree_size LIMIT 1) c
                      WHERE e.sequence > $1) l`,
            [from],
          );
          round.lag = lag;
        }
        rounds.push(round);
        log(`ledger bench: ${JSON.stringify(round)}`);
      } finally {
        await instance.stop();
      }
    }

    // A backlog of BACKLOG events: the run's first 100 events, copied (new ids) and numbered by the
    // sequencer. (The 100 are read once: a LATERAL sorting the events table per copy, as this was, took
    // over eight minutes for a full run's 100,000.)
    await q(
      `INSERT INTO events (id, type, created_at, wallet_ids, user_ids, data, commit_order, ordinal)
       SELECT gen_random_uuid(), e.type, e.created_at, e.wallet_ids, e.user_ids, e.data, nextval('event_commit_order'), 0
         FROM generate_series(1, $1) g
         JOIN (SELECT (row_number() OVER (ORDER BY commit_order) - 1)::int AS k, *
                 FROM (SELECT * FROM events ORDER BY commit_order LIMIT 100) f) e ON e.k = g % 100
        ORDER BY g`,
      [BACKLOG],
    );
    let backlog = 0;
    for (let i = 0; i < 600; i++) {
      const [{ unnumbered, numbered }] = await q(
        `SELECT (SELECT count(*) FROM events)::int - (SELECT count(*) FROM event_sequence)::int AS unnumbered,
                (SELECT count(*) FROM event_sequence)::int AS numbered`,
      );
      backlog = numbered;
      if (unnumbered === 0) break;
      await sleep(200);
    }
    // The drain is timed between the drainer's own first and last checkpoints (the newest one before it
    // was signed rounds ago).
    const before = (await head()).tree;
    log(`ledger bench: an instance with the appender starts over a backlog of ${backlog - before} events`);
    const drainer = await startInstance(owner.db, { LEDGER_APPENDER: 'true' });
    let drain;
    try {
      for (let i = 0; i < 600; i++) {
        if ((await head()).tree >= backlog) break;
        await sleep(200);
      }
      [drain] = await q(
        `SELECT max(tree_size)::int - min(tree_size)::int AS leaves,
                extract(epoch FROM max(created_at) - min(created_at)) AS seconds, count(*)::int AS passes
           FROM ledger_checkpoints WHERE tree_size > $1 AND tree_size <= $2`,
        [before, backlog],
      );
    } finally {
      await drainer.stop();
    }

    const mean = (xs) => xs.reduce((a, x) => a + x, 0) / xs.length;
    const of = (mode, key) => rounds.filter((r) => r.mode === mode).map((r) => r[key]);
    const lags = rounds.filter((r) => r.lag).map((r) => r.lag);
    const cpuOf = (r) =>
      r.serviceCpuMs === null || r.postgresCpuMs === null ? null : r.serviceCpuMs + r.postgresCpuMs;
    const paired = pairedRatios(rounds, { on: (r) => r.mode === 'on', rate: (r) => r.perSecond, cpu: cpuOf });
    return {
      transfersPerSecond: {
        rounds: ROUNDS,
        off: of('off', 'perSecond'),
        on: of('on', 'perSecond'),
        ...paired,
        meanRatio: +(mean(of('on', 'perSecond')) / mean(of('off', 'perSecond'))).toFixed(3),
        serviceCpuMsPerTransfer: { off: of('off', 'serviceCpuMs'), on: of('on', 'serviceCpuMs') },
        postgresCpuMsPerTransfer: { off: of('off', 'postgresCpuMs'), on: of('on', 'postgresCpuMs') },
        target: TARGET_RATIO,
        refusedOn: of('on', 'refused'),
      },
      appender: {
        backlogLeaves: drain.leaves,
        passes: drain.passes,
        leavesPerSecond: drain.seconds > 0 ? Math.round(drain.leaves / drain.seconds) : null,
      },
      lagMs: {
        events: lags.reduce((a, l) => a + l.events, 0),
        p50: Math.round(Math.max(...lags.map((l) => l.p50))),
        p99: Math.round(Math.max(...lags.map((l) => l.p99))),
        max: Math.round(Math.max(...lags.map((l) => l.max))),
      },
    };
  } finally {
    await pool.end();
    await owner.stop();
    await drop(owner.db);
  }
}

async function proofsAtScale() {
  process.env.LEDGER_APPENDER = 'false';
  const svc = await startService(`ledger_proofs_${Date.now().toString(36)}`);
  const { pool, q } = await connect(svc.db);
  try {
    const users = await seedWallets(q, { count: 100, balance: '1000.0000' });
    const d = distribution('uniform-100', 100);
    await transferLoad({ base: svc.base, users }, d, { connections: 8, duration: 2 });
    for (let i = 0; i < 100; i++) {
      const [{ unnumbered }] = await q(
        `SELECT count(*)::int AS unnumbered FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_sequence s WHERE s.event_id = e.id)`,
      );
      if (unnumbered === 0) break;
      await sleep(100);
    }
    const [{ events }] = await q(`SELECT count(*)::int AS events FROM event_sequence`);
    log(`ledger bench: synthesizing a tree of ${LEAVES} leaves (${events} real events at its start)`);
    for (let level = 0; 2 ** level <= LEAVES; level++) {
      await q(
        `INSERT INTO ledger_nodes (level, idx, hash)
         SELECT $1, g, sha256(int8send(g) || int2send($1::int2)) FROM generate_series(0, $2::bigint - 1) g`,
        [level, Math.floor(LEAVES / 2 ** level)],
      );
    }
    await q(
      `INSERT INTO ledger_checkpoints (tree_size, root_hash, origin, verifier_key, note)
       VALUES ($1, sha256('synthetic'), 'bench', 'bench', 'synthetic head of the bench')`,
      [LEAVES],
    );
    await q(`VACUUM ANALYZE ledger_nodes, ledger_checkpoints`);
    const admin = await fetch(`${svc.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ADMIN),
    }).then((r) => r.json());
    // Each path on `connections` connections; autocannon runs in this process, on the same two cores.
    const run = async (path, connections, duration = quick ? 3 : 10) => {
      const codes = {};
      const r = await autocannon({
        url: svc.base,
        connections,
        duration,
        requests: [
          {
            method: 'GET',
            setupRequest: (req) => ({
              ...req,
              path: path(),
              headers: { authorization: `Bearer ${admin.accessToken}` },
            }),
            onResponse: (status) => (codes[status] = (codes[status] ?? 0) + 1),
          },
        ],
      });
      return {
        connections,
        requests: r.requests.total,
        perSecond: Math.round(r.requests.average),
        latencyMs: latencyOf(r),
        codes,
      };
    };
    const rnd = (n) => 1 + Math.floor(Math.random() * n);
    const paths = {
      // Yardsticks: the HTTP path alone (no database, no auth), and one indexed read.
      live: () => '/health/live',
      checkpoint: () => '/api/v1/ledger/checkpoint',
      // At the newest size: a proof asked before comes from the service's cache (the real events are a
      // few thousand, so most are, once warm).
      inclusion: () => `/api/v1/ledger/proofs/inclusion?sequence=${rnd(events)}`,
      // At a size drawn from the whole tree: nearly never asked before, so read from the database.
      inclusionAtSize: () => {
        const sequence = rnd(events);
        return `/api/v1/ledger/proofs/inclusion?sequence=${sequence}&treeSize=${sequence - 1 + rnd(LEAVES - sequence + 1)}`;
      },
      consistency: () => `/api/v1/ledger/proofs/consistency?from=${rnd(LEAVES - 1)}&to=${LEAVES}`,
    };
    log('ledger bench: warm-up of every path');
    for (const path of Object.values(paths)) await run(path, 8, quick ? 1 : 3);
    const byConnections = {};
    for (const connections of PROOF_CONNECTIONS) {
      const row = {};
      for (const [name, path] of Object.entries(paths)) {
        log(`ledger bench: ${name}, ${connections} connection(s)`);
        row[name] = await run(path, connections);
      }
      byConnections[connections] = row;
    }
    return { leaves: LEAVES, events, targetP99Ms: TARGET_PROOF_P99_MS, byConnections };
  } finally {
    await pool.end();
    await svc.stop();
    await drop(svc.db);
  }
}

// --only=transfers or --only=proofs: one half. Full runs (or --write) save what they measured in
// bench/results/verifiable-ledger/<server>.json (the half that ran replaces its half there) and write
// BENCHMARKS.md again from every saved result.
const only = arg('only');
const stamp = async () => {
  const client = new pg.Client({
    host: process.env.POSTGRES_HOST,
    port: Number(process.env.POSTGRES_PORT ?? 5432),
    user: process.env.POSTGRES_USER ?? 'postgres',
    password: process.env.POSTGRES_PASSWORD ?? '',
    database: 'postgres',
  });
  await client.connect();
  const {
    rows: [{ version }],
  } = await client.query(`SELECT 'PostgreSQL ' || current_setting('server_version') AS version`);
  await client.end();
  return {
    date: new Date().toISOString(),
    commit: gitCommit(),
    serverVersion: version,
    loadAverage: os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / '),
  };
};
const transfers = only === 'proofs' ? undefined : { ...(await transfersAndLag()), ...(await stamp()) };
const proofs = only === 'transfers' ? undefined : { ...(await proofsAtScale()), ...(await stamp()) };
console.log(JSON.stringify({ quick, transfers, proofs }, null, 2));
if (!quick || process.argv.includes('--write')) {
  saveLedgerRun(
    { host: process.env.POSTGRES_HOST, port: Number(process.env.POSTGRES_PORT ?? 5432) },
    {
      options: { quick, seconds: SECONDS, connections: CONNECTIONS, wallets: WALLETS, backlog: BACKLOG },
      transfers,
      proofs,
    },
  );
  await writeBenchmarks();
  log('ledger bench: saved in bench/results/verifiable-ledger/, BENCHMARKS.md written');
}
