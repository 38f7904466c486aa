// The service under test, built and started as a user would: `nest build`, then `node dist/src/main.js`
// with the embedded PostgreSQL (or the server named by POSTGRES_HOST, in a database of its own). Also what
// the bench reads of it from outside: CPU of its process and of PostgreSQL's, its RSS, its /metrics.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../scripts/lib/free-port.cjs';

export const SECRET = 'bench-secret-key-0123456789-0123456789-abcdefgh';
export const ADMIN = { email: 'bench-admin@example.com', password: 'bench-admin-password' };
const TICKS = 100; // clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux)

/** Builds dist/ as `npm run build` does; false when the build fails. */
export function build() {
  return spawnSync('npx', ['nest', 'build'], { stdio: 'inherit' }).status === 0;
}

/**
 * Starts the built service and waits for /health/ready. `stamp` names the embedded data directory (or the
 * database on an external server). BENCH_PROFILE=dir writes a V8 CPU profile of the service there.
 */
export async function startService(stamp) {
  const port = await freePort();
  const pgDir = `.bench/pg-${stamp}`;
  const external = Boolean(process.env.POSTGRES_HOST);
  const env = {
    ...process.env,
    NODE_ENV: 'development',
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
  const nodeArgs = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const child = spawn(process.execPath, [...nodeArgs, 'dist/src/main.js'], {
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
    /** CPU seconds of every PostgreSQL process (the postmaster counts the backends that have exited); null on an external server. */
    postgresCpuSeconds: () =>
      external ? null : postgresPids().reduce((sum, pid, i) => sum + cpuSecondsOf(pid, i === 0), 0),
    /** SIGTERM, then the exit code; the embedded data directory is removed. */
    async stop() {
      clearInterval(rssTimer);
      child.kill('SIGTERM');
      const code = await exited;
      if (!external) rmSync(pgDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** utime + stime of a process, plus (withChildren) cutime + cstime of its children that have exited. */
function cpuSecondsOf(pid, withChildren = false) {
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
