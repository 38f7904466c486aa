import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../../scripts/lib/free-port.cjs';
import type { DatabaseTarget } from '../../../src/config/app-config';
import { buildService } from './build';

export const SCALING_SECRET = 'scaling-suite-secret-key-0123456789-0123456789';
export const SCALING_ADMIN = { email: 'scaling-admin@example.com', password: 'scaling-admin-password' };

/**
 * One instance of the built service (`node <build>/src/main.js`, as production runs dist/src/main.js) in
 * a process of its own, on a free loopback port, on the given database. Builds on first use (build.ts).
 */
export class ServiceProcess {
  private proc?: ChildProcess;
  private exited?: Promise<number | null>;
  output = '';
  port = 0;

  constructor(
    private readonly db: DatabaseTarget,
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const build = buildService();
    const proc = spawn(process.execPath, [join(build, 'src', 'main.js')], {
      cwd: build,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'development',
        PORT: String(this.port),
        HOST: '127.0.0.1',
        POSTGRES_HOST: this.db.host,
        POSTGRES_PORT: String(this.db.port),
        POSTGRES_USER: this.db.user,
        POSTGRES_PASSWORD: this.db.password,
        POSTGRES_DB: this.db.database,
        SECRET_KEY: SCALING_SECRET,
        LOG_LEVEL: 'warn',
        BCRYPT_COST: '10',
        RATE_LIMIT_AUTH_PER_MINUTE: '0',
        RATE_LIMIT_USER_PER_SECOND: '0',
        ADMIN_EMAIL: SCALING_ADMIN.email,
        ADMIN_PASSWORD: SCALING_ADMIN.password,
        ...this.env,
      },
    });
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((done) => proc.on('exit', (code) => done(code)));
    this.proc = proc;
    for (let i = 0; i < 600; i++) {
      if (proc.exitCode !== null) break;
      try {
        const res = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`service did not start:\n${this.output}`);
  }

  /** The Prometheus text of this instance's /metrics. */
  async metrics(): Promise<string> {
    const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    return res.text();
  }

  /** SIGKILL, as a crash or the OOM killer would: no shutdown hook runs. Returns once it is gone. */
  async kill(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  /** SIGTERM and wait (the service's own graceful shutdown); SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A sample's value from Prometheus text: the sum over the series of `name` whose labels include `labels`. */
export function metricTotal(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[3]);
  }
  return total;
}
