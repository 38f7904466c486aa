// The service under test, built and started as a user would: `nest build`, then `node dist/src/main.js`
// with the embedded PostgreSQL (or the server named by POSTGRES_HOST, in a database of its own). Also what
// the bench reads of it from outside: CPU of its process and of PostgreSQL's, its RSS, its /metrics.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../scripts/lib/free-port.cjs';
import { serviceNodeArgs } from '../scripts/lib/node-heap.cjs';

export const SECRET = 'bench-secret-key-0123456789-0123456789-abcdefgh';
export const ADMIN = { email: 'bench-admin@example.com', password: 'bench-admin-password' };
const TICKS = 100; // clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux)

/** Node arguments that write a V8 CPU profile `name` into `dir` when the process exits; none without a dir. */
export function profileArgs(name, dir = process.env.BENCH_PROFILE) {
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`] : [];
}

/** Builds dist/ as `npm run build` does; false when the build fails. */
export function build() {
  return spawnSync('npx', ['nest', 'build'], { stdio: 'inherit' }).status === 0;
}

/**
 * Starts the built service and waits for /health/ready. `stamp` names the embedded data directory (or the
 * database on an external server). `profileDir` (or BENCH_PROFILE=dir) makes the service write a V8 CPU
 * profile there, service.cpuprofile, when it exits.
 */
export async function startService(stamp, { profileDir = process.env.BENCH_PROFILE } = {}) {
  const port = await freePort();
  const pgDir = `.bench/pg-${stamp}`;
  const external = Boolean(process.env.POSTGRES_HOST);
  const env = {
    ...process.env,
    NODE_ENV: 'production', // as the Docker image runs it
    PORT: String(port),
    HOST: '127.0.0.1',
    SECRET_KEY: SECRET,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_USER_PER_SECOND: '0',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    BCRYPT_COST: '10',
  };
  let db;
  if (external) {
    db = {
      host: process.env.POSTGRES_HOST,
      port: Number(process.env.POSTGRES_PORT ?? 5432),
      user: process.env.POSTGRES_USER ?? 'postgres',
      password: process.env.POSTGRES_PASSWORD ?? '',
      database: `hfts_bench_${stamp}`,
    };
    const admin = new pg.Client({ ...db, database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db.database}`);
    await admin.end();
    env.POSTGRES_DB = db.database;
  } else {
    delete env.POSTGRES_HOST;
    env.EMBEDDED_PG_DIR = pgDir;
  }
  const nodeArgs = profileArgs('service.cpuprofile', profileDir);
  const child = spawn(process.execPath, [...serviceNodeArgs(), ...nodeArgs, 'dist/src/main.js'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  // A bench that fails before it stops the service must not leave it (and its PostgreSQL) running.
  const orphan = () => child.exitCode === null && child.kill('SIGTERM');
  process.once('exit', orphan);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (i > 120) throw new Error(`service did not become ready:\n${output}`);
    const ok = await fetch(`${base}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(500);
  }
  if (!external) {
    // The server's port is the 4th line of its postmaster.pid (the service logs it only at info level,
    // and the bench runs it at warn).
    const pid = readFileSync(`${pgDir}/postmaster.pid`, 'utf8').split('\n');
    const port = Number(pid[3]);
    if (!port) throw new Error(`embedded database port not found in ${pgDir}/postmaster.pid:\n${output}`);
    db = {
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: 'postgres',
      database: env.POSTGRES_DB ?? 'hfts_db',
    };
  }

  // Peak RSS, sampled every 200 ms for the whole run.
  let peakRss = 0;
  const rssMb = () => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0; // process gone
    }
  };
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssMb())), 200);

  const postgresPids = () => {
    const master = Number(readFileSync(`${pgDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(master)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter(Boolean);
    return [master, ...children];
  };
  // On a server shared with other databases, only the backends of the bench's database count.
  const backends = external ? await backendCpu(db) : null;

  return {
    base,
    db,
    pid: child.pid,
    external,
    output: () => output,
    rssMb,
    peakRssMb: () => Math.round(peakRss),
    /** CPU seconds (user + system) the service process has used. */
    cpuSeconds: () => cpuSecondsOf(child.pid),
    /**
     * CPU seconds of PostgreSQL, cumulative: on the embedded server every process of it (the postmaster
     * counts the backends that have exited); on an external one, the backends of the bench's database
     * (null when its processes are not on this machine).
     */
    postgresCpuSeconds: () =>
      external
        ? (backends?.seconds() ?? null)
        : postgresPids().reduce((sum, pid, i) => sum + cpuSecondsOf(pid, i === 0), 0),
    /** Which PostgreSQL processes postgresCpuSeconds counts, in words. */
    postgresCpuScope: external
      ? backends
        ? `the backends of database ${db.database} (sampled from /proc every ${BACKEND_SAMPLE_MS} ms)`
        : null
      : 'every process of the embedded server',
    /** SIGTERM, then the exit code; the embedded data directory is removed. */
    async stop() {
      clearInterval(rssTimer);
      backends?.stop();
      child.kill('SIGTERM');
      const code = await exited;
      if (!external) rmSync(pgDir, { recursive: true, force: true });
      else if (!process.env.BENCH_KEEP_DB) await dropDatabase(db);
      return code;
    },
  };
}

const BACKEND_SAMPLE_MS = 100;

/** The bench's database on an external server, once the run is over (BENCH_KEEP_DB=1 keeps it). */
async function dropDatabase(db) {
  const admin = new pg.Client({ ...db, database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db.database} WITH (FORCE)`);
  await admin.end();
}

/**
 * CPU of the backends serving one database of a server on this machine: the postmaster is found as the
 * parent of a backend of ours; its children whose title names the database are sampled every
 * BACKEND_SAMPLE_MS. A backend first seen after the start counts from zero (its whole life); one that
 * exits keeps its last sample (its last < 100 ms are lost). Null when the server's processes are not
 * visible here (another machine, another PID namespace).
 */
async function backendCpu(db) {
  const c = new pg.Client(db);
  await c.connect();
  const [{ pid }] = (await c.query('SELECT pg_backend_pid() AS pid')).rows;
  let master = null;
  try {
    // Read while the backend lives: it exits when the client ends.
    master = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    master = null;
  }
  await c.end();
  if (!master) return null;
  const title = ` ${db.database} `;
  const seen = new Map(); // pid -> [first, last] CPU seconds
  const sample = (initial) => {
    let children = [];
    try {
      children = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/);
    } catch {
      return;
    }
    for (const child of children) {
      const known = seen.get(child);
      if (known) {
        const now = cpuSecondsOf(child);
        if (now >= known[1]) known[1] = now;
        continue;
      }
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${child}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        continue;
      }
      if (!cmdline.includes(title)) continue;
      const now = cpuSecondsOf(child);
      seen.set(child, [initial ? now : 0, now]);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), BACKEND_SAMPLE_MS);
  return {
    seconds() {
      sample(false);
      let total = 0;
      for (const [first, last] of seen.values()) total += last - first;
      return total;
    },
    stop: () => clearInterval(timer),
  };
}

/** CPU seconds the children this process has waited for used (pgbench's CPU, read around its run). */
export function reapedChildrenCpuSeconds() {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) / TICKS;
}

/** utime + stime of a process, plus (withChildren) cutime + cstime of its children that have exited. */
export function cpuSecondsOf(pid, withChildren = false) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0)) / TICKS;
  } catch {
    return 0;
  }
}

/**
 * What the bench reads of /metrics: engine conflicts and retries, the V8 heap in use, and the
 * transfer_batch_size histogram (cumulative bucket counts by upper bound, sum and count).
 */
export async function readMetrics(base) {
  const lines = (await fetch(`${base}/metrics`).then((r) => r.text())).split('\n');
  const sum = (name) =>
    lines
      .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  const buckets = {};
  for (const l of lines) {
    const m = /^transfer_batch_size_bucket\{.*le="([^"]+)".*\} (\S+)$/.exec(l);
    if (m) buckets[m[1]] = (buckets[m[1]] ?? 0) + Number(m[2]);
  }
  return {
    conflicts: sum('transfer_conflicts_total'),
    retries: sum('transfer_retries_total'),
    heapUsedMb: +(sum('nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(1),
    batchSize: {
      buckets,
      sum: sum('transfer_batch_size_sum'),
      count: sum('transfer_batch_size_count'),
    },
  };
}

/**
 * The batch sizes written between two readings: how many statements, their mean size, and the share of
 * statements in each bucket (`"3-4": 0.25` = a quarter of the statements wrote 3 or 4 movements).
 */
export function batchSizeDelta(before, after) {
  const count = after.count - before.count;
  const bounds = Object.keys(after.buckets)
    .filter((le) => le !== '+Inf')
    .map(Number)
    .sort((x, y) => x - y);
  const shares = {};
  let previousBound = 0;
  let previousCount = 0;
  for (const le of [...bounds, '+Inf']) {
    const cumulative = (after.buckets[le] ?? 0) - (before.buckets[le] ?? 0);
    const inBucket = cumulative - previousCount;
    const label =
      le === '+Inf' ? `>${previousBound}` : le === previousBound + 1 ? `${le}` : `${previousBound + 1}-${le}`;
    if (inBucket > 0 && count > 0) shares[label] = +(inBucket / count).toFixed(3);
    previousCount = cumulative;
    if (le !== '+Inf') previousBound = le;
  }
  return { statements: count, mean: count ? +((after.sum - before.sum) / count).toFixed(1) : null, shares };
}

/**
 * Another instance of the built service on the bench's database (migrated and seeded), with the bench's
 * settings and `env` on top: a scenario with a setting toggled (bench/variants.mjs), the relay on
 * (events.mjs), the ledger's appender on (verifiable-ledger.mjs), a second instance (instances.mjs).
 * `nodeArgs` go before the script (a CPU profile).
 */
export async function startInstance(db, env = {}, { nodeArgs = [] } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [...serviceNodeArgs(), ...nodeArgs, 'dist/src/main.js'], {
    env: {
      ...process.env,
      NODE_ENV: 'production', // as the Docker image runs it
      PORT: String(port),
      HOST: '127.0.0.1',
      POSTGRES_HOST: db.host,
      POSTGRES_PORT: String(db.port),
      POSTGRES_USER: db.user,
      POSTGRES_PASSWORD: db.password,
      POSTGRES_DB: db.database,
      SECRET_KEY: SECRET,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_USER_PER_SECOND: '0',
      RATE_LIMIT_AUTH_PER_MINUTE: '0',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      BCRYPT_COST: '10',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const orphan = () => child.exitCode === null && child.kill('SIGTERM');
  process.once('exit', orphan);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (i > 120 || child.exitCode !== null) throw new Error(`instance did not become ready:\n${output}`);
    const ok = await fetch(`${base}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(500);
  }
  return {
    base,
    pid: child.pid,
    output: () => output,
    cpuSeconds: () => cpuSecondsOf(child.pid),
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
