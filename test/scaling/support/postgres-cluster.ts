import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../../scripts/lib/free-port.cjs';
import type { DatabaseTarget } from '../../../src/config/app-config';
import { systemUser } from './debian';

/** Debian's PostgreSQL 15 server binaries (the machine's own PostgreSQL package): nothing to install. */
const BIN = '/usr/lib/postgresql/15/bin';
export const CLUSTER_DB = 'hfts_test_scaling_cluster';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Root may not run PostgreSQL: the servers run as the postgres system user then. */
function runAs(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? systemUser('postgres') : {};
}

function run(program: string, args: string[]): void {
  const r = spawnSync(join(BIN, program), args, { ...runAs(), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
}

/**
 * One PostgreSQL 15 server of a test cluster, in a temporary directory, on a free loopback port, run as
 * a child process group of its own (so that `kill()` takes the postmaster and every backend at once, as
 * losing the machine would). Trust authentication on loopback only.
 */
export class PgNode {
  private proc?: ChildProcess;
  private exited?: Promise<unknown>;
  output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** A new primary: initdb, WAL for streaming replicas, the test database. */
  static async primary(): Promise<PgNode> {
    const node = new PgNode(PgNode.tempDir('primary'), await freePort());
    run('initdb', ['-D', node.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']);
    node.configure([
      'wal_level = replica',
      'max_wal_senders = 8',
      'max_replication_slots = 8',
      'wal_keep_size = 256MB',
    ]);
    await node.start();
    try {
      await node.query(`CREATE DATABASE ${CLUSTER_DB}`, [], 'postgres');
    } catch (err) {
      await node.destroy();
      throw err;
    }
    return node;
  }

  /**
   * From now on every commit waits until a standby has flushed it (synchronous_standby_names = '*'), so
   * that an acknowledged transfer survives the loss of the primary. Set once the replica streams: with
   * no standby at all, commits would wait forever.
   */
  async requireSynchronousStandby(): Promise<void> {
    await this.query(`ALTER SYSTEM SET synchronous_standby_names = '*'`, [], 'postgres');
    await this.query('SELECT pg_reload_conf()', [], 'postgres');
    const deadline = Date.now() + 30000;
    for (;;) {
      const rows = await this.query<{ s: string }>(
        `SELECT sync_state AS s FROM pg_stat_replication WHERE sync_state = 'sync'`,
        [],
        'postgres',
      );
      if (rows.length > 0) return;
      if (Date.now() > deadline) throw new Error('no synchronous standby after 30 s');
      await sleep(50);
    }
  }

  /** A streaming replica of `primary` (pg_basebackup -R), started, replaying. */
  static async replicaOf(primary: PgNode): Promise<PgNode> {
    const node = new PgNode(PgNode.tempDir('replica'), await freePort());
    rmSync(node.dataDir, { recursive: true, force: true });
    run('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primary.port),
      '-U',
      'postgres',
      '-D',
      node.dataDir,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
    ]);
    // Once promoted it must not wait for a standby of its own (there is none): availability first.
    node.configure(["synchronous_standby_names = ''", 'hot_standby = on', 'hot_standby_feedback = on']);
    try {
      await node.start();
    } catch (err) {
      await node.destroy();
      throw err;
    }
    return node;
  }

  private static tempDir(role: string): string {
    const dir = mkdtempSync(join(tmpdir(), `hfts-scaling-pg-${role}-`));
    const { uid, gid } = runAs();
    if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
    return dir;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get target(): DatabaseTarget {
    return { host: '127.0.0.1', port: this.port, user: 'postgres', password: '', database: CLUSTER_DB };
  }

  /** `127.0.0.1:<port>`, as POSTGRES_HOST and POSTGRES_REPLICA_HOSTS name it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private configure(lines: string[]): void {
    appendFileSync(
      join(this.dataDir, 'postgresql.conf'),
      [
        '',
        `port = ${this.port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${this.dir}'`,
        'shared_buffers = 32MB',
        'max_connections = 100',
        // The tests kill processes, never the machine: fsync would only slow them down.
        'fsync = off',
        'full_page_writes = off',
        'log_min_messages = warning',
        ...lines,
      ].join('\n') + '\n',
    );
  }

  async start(): Promise<void> {
    const proc = spawn(join(BIN, 'postgres'), ['-D', this.dataDir], {
      ...runAs(),
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20000)));
    this.exited = new Promise((done) => proc.once('exit', done));
    this.proc = proc;
    for (let i = 0; i < 300; i++) {
      if (proc.exitCode !== null) break;
      const c = this.client('postgres');
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.query('SELECT 1');
        await c.end();
        return;
      } catch {
        await c.end().catch(() => undefined);
        await sleep(100);
      }
    }
    await this.kill();
    throw new Error(`PostgreSQL on ${this.port} did not start:\n${this.output}`);
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGKILL to the postmaster and all its backends at once: no shutdown checkpoint, no goodbye. */
  async kill(): Promise<void> {
    if (!this.running || !this.proc?.pid) return;
    process.kill(-this.proc.pid, 'SIGKILL');
    await this.exited;
  }

  /** Fast shutdown (SIGINT): sessions are terminated, the server stops cleanly. */
  async stop(): Promise<void> {
    if (!this.running || !this.proc?.pid) return;
    this.proc.kill('SIGINT');
    const timer = setTimeout(() => this.proc?.pid && process.kill(-this.proc.pid, 'SIGKILL'), 15000);
    await this.exited;
    clearTimeout(timer);
  }

  /**
   * Ends recovery on a replica (pg_ctl promote -w): it becomes a primary. Asynchronous, so that a service
   * running in this process keeps answering meanwhile.
   */
  async promote(): Promise<void> {
    const proc = spawn(join(BIN, 'pg_ctl'), ['promote', '-w', '-t', '60', '-D', this.dataDir], {
      ...runAs(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((done) => proc.once('exit', done));
    if (code !== 0) throw new Error(`pg_ctl promote failed (${code}):\n${out}`);
  }

  /** Stops the server (if running) and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  client(database = CLUSTER_DB): Client {
    return new Client({ ...this.target, database, application_name: 'hfts-scaling-test' });
  }

  /** One query on a connection of its own. */
  async query<T extends Record<string, unknown>>(
    text: string,
    params: unknown[] = [],
    database = CLUSTER_DB,
  ): Promise<T[]> {
    const c = this.client(database);
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query<T>(text, params)).rows;
    } finally {
      await c.end();
    }
  }
}

/** Waits until `replica` has replayed everything `primary` has written so far. */
export async function caughtUp(primary: PgNode, replica: PgNode, timeoutMs = 30000): Promise<void> {
  const [{ lsn }] = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [r] = await replica.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [
      lsn,
    ]);
    if (r.ok) return;
    await sleep(20);
  }
  throw new Error(`replica on ${replica.port} did not replay ${lsn} in ${timeoutMs} ms`);
}
