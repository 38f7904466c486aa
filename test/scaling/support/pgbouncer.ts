import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../../scripts/lib/free-port.cjs';
import type { DatabaseTarget } from '../../../src/config/app-config';
import { ensureDebianPackage, systemUser } from './debian';

const PROGRAM = '/usr/sbin/pgbouncer';

export interface PgBouncerOptions {
  poolMode?: 'session' | 'transaction';
  /** Server connections per (database, user): fewer than the service's clients, so they are shared. */
  poolSize?: number;
}

/**
 * Debian's pgbouncer (1.18 on Debian 12), on a free loopback port in front of a PostgreSQL server:
 * every database of that server, the one login the tests use. Stock settings otherwise (no
 * ignore_startup_parameters, no prepared-statement support), as an operator's would be.
 */
export class PgBouncer {
  private proc?: ChildProcess;
  private exited?: Promise<unknown>;
  private dir = '';
  output = '';
  port = 0;

  constructor(private readonly options: PgBouncerOptions = {}) {}

  async start(server: Omit<DatabaseTarget, 'database'>): Promise<void> {
    ensureDebianPackage('pgbouncer', PROGRAM);
    this.port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'hfts-pgbouncer-'));
    chmodSync(this.dir, 0o755);
    const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
    writeFileSync(join(this.dir, 'userlist.txt'), `${quote(server.user)} ${quote(server.password)}\n`);
    writeFileSync(
      join(this.dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=${server.host} port=${server.port}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${this.port}`,
        'unix_socket_dir =',
        // Loopback only, for tests: the client is not asked for a password; pgbouncer logs in to
        // PostgreSQL with the one in the auth file.
        'auth_type = trust',
        `auth_file = ${join(this.dir, 'userlist.txt')}`,
        `pool_mode = ${this.options.poolMode ?? 'transaction'}`,
        `default_pool_size = ${this.options.poolSize ?? 6}`,
        'max_client_conn = 1000',
        'max_db_connections = 0',
        'log_connections = 0',
        'log_disconnections = 0',
      ].join('\n') + '\n',
    );
    for (const f of ['userlist.txt', 'pgbouncer.ini']) chmodSync(join(this.dir, f), 0o644);
    // pgbouncer refuses to run as root.
    const user = process.getuid?.() === 0 ? systemUser('postgres') : {};
    const proc = spawn(PROGRAM, [join(this.dir, 'pgbouncer.ini')], {
      ...user,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((done) => proc.on('exit', done));
    this.proc = proc;
    for (let i = 0; ; i++) {
      const client = new Client({ ...server, host: '127.0.0.1', port: this.port, database: 'postgres' });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (err) {
        await client.end().catch(() => undefined);
        if (i >= 100 || proc.exitCode !== null)
          throw new Error(`pgbouncer did not start: ${String(err)}\n${this.output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Immediate shutdown (SIGTERM): client connections are closed; the process is gone on return. */
  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await this.exited;
    }
    this.proc = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
