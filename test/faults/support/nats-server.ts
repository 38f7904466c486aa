import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../scripts/lib/free-port.cjs';

const BINARY = '/usr/sbin/nats-server';

/** Debian's nats-server, installed when missing (as root, like the machine's own services). */
function ensureBinary(): void {
  if (existsSync(BINARY)) return;
  const install = () => spawnSync('apt-get', ['install', '-y', 'nats-server'], { stdio: 'inherit' }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    if (install() !== 0) throw new Error('nats-server is missing and apt-get could not install it');
  }
}

/**
 * A NATS server with JetStream of the suite's own, on a free port with a store directory of its own: it
 * can be stopped and started again (same port, same store, so the stream and its duplicate window
 * survive, as with a real broker restart) without touching the machine's server.
 */
export class NatsServer {
  private proc?: ChildProcess;
  private exited?: Promise<unknown>;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'hfts-faults-nats-'));
  port = 0;
  log = '';

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    ensureBinary();
    this.port ||= await freePort();
    const proc = spawn(BINARY, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((done) => proc.on('exit', done));
    await new Promise<void>((ready, fail) => {
      const seen = (d: Buffer) => {
        this.log += d.toString();
        if (this.log.includes('Server is ready')) ready();
      };
      proc.stdout?.on('data', seen);
      proc.stderr?.on('data', seen);
      proc.on('exit', (code) => fail(new Error(`nats-server exited with ${code}:\n${this.log}`)));
    });
    this.proc = proc;
  }

  /** SIGTERM: connections are closed at once and the server exits. */
  async stop(): Promise<void> {
    this.proc?.kill('SIGTERM');
    await this.exited;
    this.proc = undefined;
    this.log = '';
  }

  async remove(): Promise<void> {
    if (this.proc) await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
