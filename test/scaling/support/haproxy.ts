import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../scripts/lib/free-port.cjs';
import { ensureDebianPackage } from './debian';

const PROGRAM = '/usr/sbin/haproxy';

/**
 * Debian's haproxy (2.6 on Debian 12) on a free loopback port, balancing HTTP round robin over the
 * given backends with a health check on /health/ready, as an operator's load balancer would: a backend
 * that stops answering is taken out after two failed checks. haproxy never resends a request that
 * reached a backend (POST is not idempotent to it): the client retries, with its Idempotency-Key.
 */
export class HaProxy {
  private proc?: ChildProcess;
  private exited?: Promise<unknown>;
  private dir = '';
  output = '';
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(backends: number[]): Promise<void> {
    ensureDebianPackage('haproxy', PROGRAM);
    this.port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'hfts-haproxy-'));
    const config = join(this.dir, 'haproxy.cfg');
    writeFileSync(
      config,
      [
        'global',
        '  maxconn 4000',
        'defaults',
        '  mode http',
        '  timeout connect 1s',
        '  timeout client 30s',
        '  timeout server 30s',
        // A connection refused before the request was sent goes to the other backend.
        '  retries 2',
        '  option redispatch',
        'frontend api',
        `  bind 127.0.0.1:${this.port}`,
        '  default_backend service',
        'backend service',
        '  balance roundrobin',
        '  option httpchk GET /health/ready',
        '  http-check expect status 200',
        '  default-server inter 300ms fall 2 rise 2',
        ...backends.map((port, i) => `  server s${i} 127.0.0.1:${port} check`),
      ].join('\n') + '\n',
    );
    const check = spawn(PROGRAM, ['-c', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let checkOutput = '';
    check.stdout?.on('data', (d: Buffer) => (checkOutput += d.toString()));
    check.stderr?.on('data', (d: Buffer) => (checkOutput += d.toString()));
    const valid = await new Promise<number | null>((done) => check.on('exit', done));
    if (valid !== 0) throw new Error(`haproxy refused its configuration:\n${checkOutput}`);
    // -db: in the foreground, not as a daemon, so that this process is haproxy itself.
    const proc = spawn(PROGRAM, ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((done) => proc.on('exit', done));
    this.proc = proc;
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (i >= 100 || proc.exitCode !== null) throw new Error(`haproxy did not start:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Hard stop (SIGTERM): the process is gone on return. */
  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await this.exited;
    }
    this.proc = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
