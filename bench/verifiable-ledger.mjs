#!/usr/bin/env node
// The verifiable ledger's cost (issue 25 item 6), on its own: `npm run build`, then
//   POSTGRES_HOST=127.0.0.1 POSTGRES_USER=postgres node bench/verifiable-ledger.mjs [--quick] [--write]
//     [--only=transfers|proofs] [--leaves=N]
// (an external PostgreSQL: two instances share one database). Prints one JSON object; a full run (or
// --write) saves it in bench/results/verifiable-ledger/ and writes BENCHMARKS.md again (its "Verifiable
// ledger" section):
// - transfersPerSecond off / on: closed-loop POST /transfers (32 connections) on an instance with
//   LEDGER_APPENDER=false (before and after) and on one with it on (the appender in the serving process),
//   each warmed up alike, their ratio (target >= 0.95), and the serving process's CPU per transfer;
// - appender.leavesPerSecond: the instance with the appender starts over a backlog (the run's events and
//   100,000 copies of them, all numbered, none in the tree) and drains it, 10,000 leaves a pass; measured
//   between its first and last checkpoints of the drain;
// - lagMs: for every event of the run with the appender on, from its write (created_at) to the signing of
//   the first checkpoint that covers it (the checkpoint's created_at, stamped when signed): p50, p99, max;
// - proofs at a million leaves: a fresh database whose tree is synthesized (1,000,000 leaves of random hashes
//   and every complete subtree above them, straight into ledger_nodes, and a checkpoint of that size), then
//   GET /ledger/proofs/inclusion (random real events, as an admin; at the newest size, and at a random size,
//   which the service has not cached) and /proofs/consistency (random sizes to the head), on 1 and on 8
//   connections: p50, p99 (target p99 < 10 ms), beside GET /health/live (the HTTP path alone) and GET
//   /ledger/checkpoint (one indexed read), measured by the same client in the same run.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { distribution } from './distributions.mjs';
import { latencyOf, transferLoad } from './load.mjs';
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

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function transfersAndLag() {
  process.env.LEDGER_APPENDER = 'false';
  const off = await startService(`ledger_${Date.now().toString(36)}`);
  const { pool, q } = await connect(off.db);
  try {
    const users = await seedWallets(q, { count: WALLETS, balance: '1000000.0000' });
    const d = distribution(`uniform-${WALLETS}`, WALLETS);
    // One closed-loop run, with the serving process's CPU per transfer (steadier than transfers/s on a
    // shared machine: it is what the appender costs the instance that runs it).
    const load = async (base, pid) => {
      const cpu0 = cpuSeconds(pid);
      const r = await transferLoad({ base, users }, d, { connections: CONNECTIONS, duration: SECONDS });
      return {
        ...r,
        cpuMs: r.transfers ? +(((cpuSeconds(pid) - cpu0) * 1000) / r.transfers).toFixed(3) : null,
      };
    };
    log('ledger bench: warm-up, appender off');
    await transferLoad({ base: off.base, users }, d, { connections: CONNECTIONS, duration: quick ? 2 : 5 });
    log(`ledger bench: appender off, ${CONNECTIONS} connections, ${SECONDS} s`);
    const off1 = await load(off.base, off.pid);

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
    log(`ledger bench: an instance with the appender starts over a backlog of ${backlog} events`);
    // BENCH_PROFILE=dir: a V8 CPU profile of this instance too (ledger-on.cpuprofile), as startService's.
    const on = await startInstance(
      off.db,
      { LEDGER_APPENDER: 'true' },
      { nodeArgs: profileArgs('ledger-on.cpuprofile') },
    );
    let drain;
    let result;
    try {
      for (let i = 0; i < 600; i++) {
        const [{ size }] = await q(`SELECT max(tree_size)::int AS size FROM ledger_checkpoints`);
        if (size >= backlog) break;
        await sleep(200);
      }
      [drain] = await q(
        `SELECT max(tree_size)::int - min(tree_size)::int AS leaves,
                extract(epoch FROM max(created_at) - min(created_at)) AS seconds, count(*)::int AS passes
           FROM ledger_checkpoints WHERE tree_size > 0 AND tree_size <= $1`,
        [backlog],
      );
      // The same warm-up as the instance without the appender had (a fresh process runs its transfer path
      // unoptimized for its first seconds: measured cold, a quick run's ratio fell to 0.76).
      log('ledger bench: warm-up, appender on');
      await transferLoad({ base: on.base, users }, d, { connections: CONNECTIONS, duration: quick ? 2 : 5 });
      await sleep(1000);
      const [{ from }] = await q(`SELECT coalesce(max(sequence), 0)::int AS from FROM event_sequence`);
      log(`ledger bench: appender on (in the serving instance), ${CONNECTIONS} connections, ${SECONDS} s`);
      const on1 = await load(on.base, on.pid);
      await sleep(2000); // the last events reach a checkpoint
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
      result = { off1, on1, drain, lag, backlog };
    } finally {
      await on.stop();
    }
    log(`ledger bench: appender off again, ${CONNECTIONS} connections, ${SECONDS} s`);
    const off2 = await load(off.base, off.pid);
    const offRate = (tps(result.off1) + tps(off2)) / 2;
    return {
      transfersPerSecond: {
        off: [tps(result.off1), tps(off2)],
        on: tps(result.on1),
        ratio: +(tps(result.on1) / offRate).toFixed(3),
        serviceCpuMsPerTransfer: { off: [result.off1.cpuMs, off2.cpuMs], on: result.on1.cpuMs },
        target: TARGET_RATIO,
        refusedOn: result.on1.refused,
      },
      appender: {
        backlogLeaves: result.drain.leaves,
        passes: result.drain.passes,
        leavesPerSecond:
          result.drain.seconds > 0 ? Math.round(result.drain.leaves / result.drain.seconds) : null,
      },
      lagMs: {
        events: result.lag.events,
        p50: Math.round(result.lag.p50),
        p99: Math.round(result.lag.p99),
        max: Math.round(result.lag.max),
      },
    };
  } finally {
    await pool.end();
    await off.stop();
    await drop(off.db);
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
