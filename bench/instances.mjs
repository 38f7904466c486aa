// npm run bench -- --instances [--quick]: one instance against two on this machine, in one run. The first
// instance is started as the rest of the bench starts the service (bench/service.mjs: embedded PostgreSQL
// unless POSTGRES_HOST is set); the second is the same build on the same database, on a port of its own.
// The same closed-loop transfer load (uniform over the seeded wallets) runs against one instance with all
// connections, then against both with half the connections each, as a round-robin load balancer would
// spread them (no balancer process in between: its cost is left out). Prints transfers/s and latency of
// each, and the CPU each process used. Then, when Debian's pgbouncer is installed, one instance alone
// through it (DB_POOLER=transaction); money must be conserved afterwards, and no response may be a 5xx.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../scripts/lib/free-port.cjs';
import { distribution } from './distributions.mjs';
import { transferLoad } from './load.mjs';
import { checkMoney } from './money.mjs';
import { log } from './report.mjs';
import { checkAccess, seedWallets } from './seeding.mjs';
import { build, cpuSecondsOf as cpuSeconds, startInstance, startService } from './service.mjs';

const PGBOUNCER = '/usr/sbin/pgbouncer';

/**
 * Debian's pgbouncer in transaction pooling mode in front of `db`, on a free loopback port (as the
 * scaling suite starts it: test/scaling/support/pgbouncer.ts); undefined when it is not installed.
 */
async function startPgBouncer(db, poolSize) {
  if (!existsSync(PGBOUNCER)) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hfts-bench-pgbouncer-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'userlist.txt'), `"${db.user}" "${db.password}"\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${db.host} port=${db.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 1000',
    ].join('\n') + '\n',
  );
  for (const f of ['userlist.txt', 'pgbouncer.ini']) chmodSync(join(dir, f), 0o644);
  // pgbouncer refuses to run as root.
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  const user = process.getuid?.() === 0 ? { uid: id('-u'), gid: id('-g') } : {};
  const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { ...user, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  for (let i = 0; ; i++) {
    const c = new pg.Client({ ...db, host: '127.0.0.1', port, database: 'postgres' });
    const ok = await c.connect().then(
      () => true,
      () => false,
    );
    await c.end().catch(() => undefined);
    if (ok) break;
    if (i > 50) throw new Error('pgbouncer did not start');
    await sleep(100);
  }
  return {
    db: { ...db, host: '127.0.0.1', port },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The load on each base at once (connections split evenly), summed; CPU seconds of each process. */
async function measure(targets, users, d, { connections, duration }) {
  const cpuBefore = targets.map((t) => cpuSeconds(t.pid));
  const runs = await Promise.all(
    targets.map((t) =>
      transferLoad({ base: t.base, users }, d, {
        connections: Math.round(connections / targets.length),
        duration,
      }),
    ),
  );
  const transfers = runs.reduce((s, r) => s + r.transfers, 0);
  const errors = runs.reduce(
    (s, r) =>
      s +
      r.errors +
      Object.entries(r.refused)
        .filter(([k]) => Number(k.split(' ')[0]) >= 500)
        .reduce((n, [, v]) => n + v, 0),
    0,
  );
  return {
    instances: targets.length,
    connections,
    seconds: duration,
    transfers,
    transfersPerSecond: Math.round(transfers / duration),
    // Per instance: the latencies autocannon saw on its connections to it.
    latencyMs: runs.map((r) => r.latencyMs),
    refused: runs.map((r) => r.refused),
    errors,
    cpuSeconds: targets.map((t, i) => +(cpuSeconds(t.pid) - cpuBefore[i]).toFixed(1)),
  };
}

export async function runInstances(argv) {
  const quick = argv.includes('--quick');
  const o = {
    wallets: 1000,
    balance: '100000',
    connections: 64,
    seconds: quick ? 3 : 15,
    warmup: quick ? 2 : 5,
  };
  const stamp = new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14);
  log(`instances: 1 against 2, ${o.connections} connections, ${o.seconds} s each, ${cpus().length} cores`);
  if (!build()) return 1;
  const first = await startService(`inst${stamp}`);
  const pool = new pg.Pool({ ...first.db, max: 4 });
  const q = (sql, params) => pool.query(sql, params).then((r) => r.rows);
  let second;
  let third;
  let bouncer;
  let result;
  let failure;
  try {
    const users = await seedWallets(q, { count: o.wallets, balance: o.balance });
    await checkAccess(first.base, users);
    second = await startInstance(first.db);
    await checkAccess(second.base, users);
    const d = distribution(`uniform-${o.wallets}`, o.wallets);
    const one = [{ base: first.base, pid: first.pid }];
    const two = [...one, { base: second.base, pid: second.pid }];
    log('warm-up (both instances)');
    await measure(two, users, d, { connections: o.connections, duration: o.warmup });
    log('1 instance');
    const single = await measure(one, users, d, { connections: o.connections, duration: o.seconds });
    log(`  ${single.transfersPerSecond} transfers/s, p99 ${single.latencyMs[0].p99} ms`);
    log('2 instances');
    const double = await measure(two, users, d, { connections: o.connections, duration: o.seconds });
    log(
      `  ${double.transfersPerSecond} transfers/s, p99 ${double.latencyMs.map((l) => l.p99).join(' / ')} ms`,
    );
    // One more instance, alone, through pgbouncer (transaction pooling, as many server connections as
    // the others' pools): what the pooler and unnamed statements cost.
    bouncer = await startPgBouncer(first.db, 10);
    let pooled;
    if (bouncer) {
      await second.stop();
      second = undefined;
      third = await startInstance(bouncer.db, { DB_POOLER: 'transaction' });
      log('1 instance through pgbouncer (transaction pooling)');
      pooled = await measure([{ base: third.base, pid: third.pid }], users, d, {
        connections: o.connections,
        duration: o.seconds,
      });
      log(`  ${pooled.transfersPerSecond} transfers/s, p99 ${pooled.latencyMs[0].p99} ms`);
    } else log(`no ${PGBOUNCER}: no run through pgbouncer`);
    const money = await checkMoney(q, first.base);
    result = {
      date: new Date().toISOString(),
      cores: cpus().length,
      database: first.external ? 'external' : 'embedded',
      options: o,
      single,
      double,
      pooled,
      speedup: +(double.transfersPerSecond / Math.max(1, single.transfersPerSecond)).toFixed(2),
      money,
    };
  } catch (err) {
    failure = err;
  }
  await pool.end();
  if (third) await third.stop();
  if (bouncer) await bouncer.stop();
  if (second) await second.stop();
  await first.stop();
  if (first.external) {
    // The bench's own database on the server named by POSTGRES_HOST: dropped, as the embedded one is.
    const admin = new pg.Client({ ...first.db, database: 'postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${first.db.database} WITH (FORCE)`);
    await admin.end();
  }
  if (failure) {
    console.error(failure);
    return 1;
  }
  mkdirSync('.bench', { recursive: true });
  writeFileSync(`.bench/instances-${stamp}.json`, JSON.stringify(result, null, 2));
  log(
    `1 instance ${result.single.transfersPerSecond}/s, 2 instances ${result.double.transfersPerSecond}/s ` +
      `(x${result.speedup}); money ${result.money.conserved ? 'conserved' : 'NOT CONSERVED'}`,
  );
  if (!result.money.conserved) console.error('MONEY NOT CONSERVED');
  const errors = result.single.errors + result.double.errors + (result.pooled?.errors ?? 0);
  if (errors) console.error(`the service erred: ${errors} responses were 5xx or none`);
  return result.money.conserved && errors === 0 ? 0 : 1;
}
