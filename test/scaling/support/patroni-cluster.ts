import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { parse } from 'yaml';
import { freePort } from '../../../scripts/lib/free-port.cjs';
import type { DatabaseTarget } from '../../../src/config/app-config';
import { ensureDebianPackage, systemUser } from './debian';

const DEPLOY = resolve(__dirname, '..', '..', '..', 'deploy', 'patroni');
export const PATRONI_DB = 'hfts_test_patroni';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Patroni's timings here: a leader key that lapses after 10 s (the deploy's is 30 s), a loop every second,
 * so that a killed leader is replaced within seconds and the suite stays short. loop_wait + 2 x
 * retry_timeout < ttl, as Patroni requires.
 */
const TIMINGS = { ttl: 10, loop_wait: 1, retry_timeout: 4 };

/** The Debian packages, installed when missing (as the other scaling suites do for theirs). */
export function ensurePatroniPackages(): void {
  ensureDebianPackage('etcd-server', '/usr/bin/etcd');
  ensureDebianPackage('etcd-client', '/usr/bin/etcdctl');
  // The etcd3 client of Patroni 3.0 imports python3-etcd, one of the package's alternative dependencies.
  ensureDebianPackage('python3-etcd', '/usr/lib/python3/dist-packages/etcd/__init__.py');
  ensureDebianPackage('patroni', '/usr/bin/patroni');
  ensureDebianPackage('haproxy', '/usr/sbin/haproxy');
}

/** Root may run neither PostgreSQL nor Patroni: everything of the cluster runs as the postgres user then. */
function runAs(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? systemUser('postgres') : {};
}

function ownedTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const { uid, gid } = runAs();
  if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
  return dir;
}

/** A child process in a process group of its own, its output kept (the tail) for error messages. */
class Child {
  output = '';
  private exited: Promise<unknown>;

  constructor(
    readonly proc: ChildProcess,
    readonly name: string,
  ) {
    // Patroni says "no action" and who holds the lock every second: the rest is what explains a failure.
    const keep = (d: Buffer) =>
      (this.output = (
        this.output +
        d
          .toString()
          .split('\n')
          .filter((l) => !/no action\.|Lock owner:/.test(l))
          .join('\n')
      ).slice(-30000));
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exited = new Promise((done) => proc.once('exit', done));
  }

  static start(name: string, program: string, args: string[], asPostgres: boolean): Child {
    const proc = spawn(program, args, {
      ...(asPostgres ? runAs() : {}),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Child(proc, name);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async signal(signal: NodeJS.Signals, waitMs = 20000): Promise<void> {
    if (!this.running || !this.proc.pid) return;
    process.kill(-this.proc.pid, signal);
    const timer = setTimeout(() => this.running && process.kill(-this.proc.pid!, 'SIGKILL'), waitMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** One etcd 3.4 member on loopback: the consensus store Patroni keeps its leader key in. */
class Etcd {
  private child?: Child;
  private readonly dir = ownedTempDir('hfts-etcd-');
  clientPort = 0;

  async start(): Promise<void> {
    this.clientPort = await freePort();
    const peer = await freePort();
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    this.child = Child.start(
      'etcd',
      '/usr/bin/etcd',
      [
        '--name=e1',
        `--data-dir=${join(this.dir, 'data')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=e1=${peerUrl}`,
        '--log-level=warn',
      ],
      true,
    );
    for (let i = 0; i < 200; i++) {
      try {
        const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (!this.child.running) break;
      await sleep(100);
    }
    throw new Error(`etcd did not start:\n${this.child.output}`);
  }

  async stop(): Promise<void> {
    await this.child?.signal('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Member {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
}

/** One database node: Patroni and the PostgreSQL 15 it runs, with its REST API on its own port. */
export class PatroniNode {
  patroni?: Child;
  pgPort = 0;
  restPort = 0;
  readonly dir = ownedTempDir('hfts-patroni-');

  constructor(readonly name: string) {}

  get config(): string {
    return join(this.dir, 'patroni.yml');
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /**
   * deploy/patroni/patroni.yml, with this node's name, loopback addresses and ports, temporary data
   * directory, trust authentication on loopback, the short timings, and no fsync (processes die here,
   * never the machine). Written as JSON, which Patroni's YAML reader takes.
   */
  async configure(scope: string, etcdPort: number): Promise<void> {
    this.pgPort = await freePort();
    this.restPort = await freePort();
    const c = parse(readFileSync(join(DEPLOY, 'patroni.yml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    c.scope = scope;
    c.namespace = '/hfts-test/';
    c.name = this.name;
    c.restapi = { listen: `127.0.0.1:${this.restPort}`, connect_address: `127.0.0.1:${this.restPort}` };
    c.etcd3 = { hosts: `127.0.0.1:${etcdPort}` };
    Object.assign(c.bootstrap.dcs, TIMINGS);
    Object.assign(c.bootstrap.dcs.postgresql.parameters, {
      // Processes die here, never the machine. full_page_writes stays on: the suite measures WAL.
      fsync: 'off',
      shared_buffers: '32MB',
      max_connections: 100,
      wal_keep_size: '256MB',
    });
    c.bootstrap.initdb = [{ encoding: 'UTF8' }, { locale: 'C' }];
    c.bootstrap.pg_hba = [
      'local all all trust',
      'host replication all 127.0.0.1/32 trust',
      'host all all 127.0.0.1/32 trust',
    ];
    Object.assign(c.postgresql, {
      listen: `127.0.0.1:${this.pgPort}`,
      connect_address: `127.0.0.1:${this.pgPort}`,
      data_dir: this.dataDir,
      pgpass: join(this.dir, 'pgpass'),
    });
    c.postgresql.parameters = { unix_socket_directories: this.dir, log_min_messages: 'warning' };
    writeFileSync(this.config, JSON.stringify(c, null, 2));
    const { uid, gid } = runAs();
    if (uid !== undefined && gid !== undefined) chownSync(this.config, uid, gid);
  }

  start(): void {
    this.patroni = Child.start(this.name, '/usr/bin/patroni', [this.config], true);
  }

  /** The postmaster's pid, from its postmaster.pid (Patroni starts it in a session of its own). */
  postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * SIGKILL to Patroni and to PostgreSQL's whole session (postmaster and every backend) at once, as losing
   * the machine would: no shutdown, no goodbye to etcd (the leader key lapses after its ttl).
   */
  async killHard(): Promise<void> {
    const group = this.postmasterGroup();
    if (this.patroni?.proc.pid) process.kill(-this.patroni.proc.pid, 'SIGKILL');
    if (group) process.kill(-group, 'SIGKILL');
    await this.patroni?.signal('SIGKILL');
  }

  /**
   * The process group of the postmaster and its backends (Patroni starts PostgreSQL through a child that
   * calls setsid, so the postmaster is not the group's leader): field 5 of /proc/<pid>/stat.
   */
  postmasterGroup(): number | undefined {
    const pid = this.postmasterPid();
    if (!pid) return undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      return Number.isInteger(group) && group > 1 ? group : undefined;
    } catch {
      return undefined;
    }
  }

  /** What this node's Patroni says about the cluster (GET /cluster). */
  async members(): Promise<Member[]> {
    const res = await fetch(`http://127.0.0.1:${this.restPort}/cluster`, {
      signal: AbortSignal.timeout(2000),
    });
    return ((await res.json()) as { members: Member[] }).members;
  }

  /** SIGTERM: Patroni stops PostgreSQL (fast shutdown) and leaves the cluster. */
  async stop(): Promise<void> {
    await this.patroni?.signal('SIGTERM', 30000);
    // Patroni stops its PostgreSQL on SIGTERM; one left behind (Patroni killed earlier) goes now.
    const group = this.postmasterGroup();
    if (group) process.kill(-group, 'SIGKILL');
  }
}

/**
 * haproxy with deploy/patroni/haproxy.cfg, its addresses turned into the test's loopback ports: writes
 * to the node whose Patroni answers /primary, reads to those answering /replica.
 */
class PatroniHaProxy {
  private child?: Child;
  private readonly dir = mkdtempSync(join(tmpdir(), 'hfts-patroni-haproxy-'));
  writePort = 0;
  readPort = 0;

  async start(nodes: PatroniNode[]): Promise<void> {
    this.writePort = await freePort();
    this.readPort = await freePort();
    const stats = await freePort();
    const bind: Record<string, number> = { '5000': this.writePort, '5001': this.readPort, '7000': stats };
    const text = readFileSync(join(DEPLOY, 'haproxy.cfg'), 'utf8')
      .replace(/bind 127\.0\.0\.1:(\d+)/g, (_, port: string) => `bind 127.0.0.1:${bind[port]}`)
      .replace(/server pg(\d) 10\.0\.0\.1\d:5432 (.*) check port 8008/g, (_, n: string, rest: string) => {
        const node = nodes[Number(n) - 1];
        return `server pg${n} 127.0.0.1:${node.pgPort} ${rest} check port ${node.restPort}`;
      })
      // The test's checks every 200 ms rather than every second: same shape, shorter run.
      .replace(/inter 1s/g, 'inter 200ms');
    if (/10\.0\.0\./.test(text))
      throw new Error('deploy/patroni/haproxy.cfg changed shape: an address is left');
    const config = join(this.dir, 'haproxy.cfg');
    writeFileSync(config, text);
    this.child = Child.start('haproxy', '/usr/sbin/haproxy', ['-db', '-f', config], false);
    await sleep(300);
    if (!this.child.running) throw new Error(`haproxy did not start:\n${this.child.output}`);
  }

  async stop(): Promise<void> {
    await this.child?.signal('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Three Patroni nodes (PostgreSQL 15, synchronous_mode) on one etcd, haproxy in front: the cluster of
 * deploy/patroni on loopback. Everything it starts, it stops (destroy).
 */
export class PatroniCluster {
  readonly etcd = new Etcd();
  readonly nodes = [new PatroniNode('pg1'), new PatroniNode('pg2'), new PatroniNode('pg3')];
  readonly haproxy = new PatroniHaProxy();
  readonly scope = `hfts${process.pid}`;

  async start(): Promise<void> {
    ensurePatroniPackages();
    await this.etcd.start();
    for (const n of this.nodes) await n.configure(this.scope, this.etcd.clientPort);
    // The first node initialises the cluster; the others then clone it (pg_basebackup) as replicas.
    this.nodes[0].start();
    await this.waitFor('a leader', async (m) => m.some((x) => x.role === 'leader' && x.state === 'running'));
    this.nodes[1].start();
    this.nodes[2].start();
    await this.waitHealthy();
    await this.haproxy.start(this.nodes);
    const leader = await this.leader();
    await leader.query(`CREATE DATABASE ${PATRONI_DB}`, 'postgres');
  }

  /**
   * Three running members: a leader, and two replicas on its timeline streaming from it, one of them
   * synchronous (as the leader's pg_stat_replication says). Patroni reports a replica "running" before it
   * streams again after a switchover, and in synchronous_mode only the sync standby may be promoted: a
   * leader lost before that would leave nobody allowed to take over.
   */
  async waitHealthy(timeoutMs = 120000): Promise<Member[]> {
    return this.waitFor(
      'three running members, both replicas streaming, one synchronously',
      async (m) => {
        const leader = m.find((x) => x.role === 'leader' && x.state === 'running');
        if (!leader || m.length !== 3 || !m.every((x) => x.state === 'running' || x.state === 'streaming'))
          return false;
        if (!m.every((x) => x.timeline === leader.timeline) || !m.some((x) => x.role === 'sync_standby'))
          return false;
        const node = new LiveNode(this.nodes.find((n) => n.name === leader.name)!);
        const streams = await node
          .query<{ sync_state: string }>(
            `SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'`,
            'postgres',
          )
          .catch(() => []);
        return streams.length === 2 && streams.some((r) => r.sync_state === 'sync');
      },
      timeoutMs,
    );
  }

  /** The members as the first node that answers sees them, once `ok` holds. */
  async waitFor(what: string, ok: (m: Member[]) => Promise<boolean>, timeoutMs = 120000): Promise<Member[]> {
    const deadline = Date.now() + timeoutMs;
    let last: Member[] = [];
    while (Date.now() < deadline) {
      for (const n of this.nodes) {
        if (!n.patroni?.running) continue;
        try {
          last = await n.members();
          if (await ok(last)) return last;
          break;
        } catch {
          // this node's REST API is not up: ask the next
        }
      }
      await sleep(200);
    }
    const logs = this.nodes.map((n) => `--- ${n.name}\n${n.patroni?.output ?? ''}`).join('\n');
    throw new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(last)}\n${logs}`);
  }

  async leader(): Promise<LiveNode> {
    const members = await this.waitFor('a leader', async (m) =>
      m.some((x) => x.role === 'leader' && x.state === 'running'),
    );
    const name = members.find((x) => x.role === 'leader')!.name;
    return new LiveNode(this.nodes.find((n) => n.name === name)!);
  }

  /** `patronictl switchover --force`: the leader hands over to the synchronous standby. */
  async switchover(): Promise<string> {
    const proc = spawn('/usr/bin/patronictl', ['-c', this.nodes[0].config, 'switchover', '--force'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((done) => proc.once('exit', done));
    if (code !== 0) throw new Error(`patronictl switchover failed (${code}):\n${out}`);
    return out;
  }

  /** The service's view: writes through haproxy's write port, replica reads through its read port. */
  get target(): DatabaseTarget {
    return {
      host: '127.0.0.1',
      port: this.haproxy.writePort,
      user: 'postgres',
      password: '',
      database: PATRONI_DB,
    };
  }

  get replicaAddress(): string {
    return `127.0.0.1:${this.haproxy.readPort}`;
  }

  async destroy(): Promise<void> {
    await this.haproxy.stop().catch(() => undefined);
    for (const n of this.nodes) await n.stop().catch(() => undefined);
    await this.etcd.stop().catch(() => undefined);
    for (const n of this.nodes) rmSync(n.dir, { recursive: true, force: true });
  }
}

/** A node's PostgreSQL, queried directly (not through haproxy). */
export class LiveNode {
  constructor(readonly node: PatroniNode) {}

  get name(): string {
    return this.node.name;
  }

  async query<T extends Record<string, unknown>>(
    text: string,
    database = PATRONI_DB,
    params: unknown[] = [],
  ): Promise<T[]> {
    const c = new Client({ host: '127.0.0.1', port: this.node.pgPort, user: 'postgres', database });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query<T>(text, params)).rows;
    } finally {
      await c.end();
    }
  }
}
