import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../../scripts/lib/free-port.cjs';
import {
  BALANCE_EQUALS_LEDGER,
  CONSERVED_PER_CURRENCY,
  NO_NEGATIVE_BALANCE,
} from '../../../scripts/lib/invariants-sql.cjs';

/** Real processes for fault injection: a PostgreSQL server of the suite's own, and the built service. */
export const SECRET = 'fault-suite-secret-key-0123456789-0123456789';
export const ADMIN = { email: 'faults-admin@example.com', password: 'faults-admin-password' };
const ROOT = resolve(__dirname, '..', '..', '..');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { freePort };

/** Builds dist/ once per run (the suite runs the service as production does). */
export function buildOnce(): void {
  if (process.env.HFTS_FAULTS_BUILT) return;
  const r = spawnSync('npx', ['nest', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('build failed');
  process.env.HFTS_FAULTS_BUILT = '1';
}

export class Postgres {
  private server?: ChildProcess;
  private exited?: Promise<unknown>;
  readonly dataDir: string;
  port = 0;

  constructor() {
    this.dataDir = join(mkdtempSync(join(tmpdir(), 'hfts-faults-pg-')), 'data');
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    const proc = spawn(
      process.execPath,
      [join(__dirname, 'pg-server.mjs'), this.dataDir, String(this.port)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    this.exited = new Promise((done) => proc.on('exit', done));
    await new Promise<void>((ready, fail) => {
      proc.stdout?.on('data', (d: Buffer) => d.toString().includes('READY') && ready());
      proc.on('exit', (code) => fail(new Error(`PostgreSQL helper exited with ${code}`)));
    });
    this.server = proc;
  }

  /** Fast shutdown (SIGINT to the postmaster): sessions are terminated, the server stops cleanly. */
  async stopFast(): Promise<void> {
    this.server?.kill('SIGTERM');
    await this.exited;
    this.server = undefined;
  }

  /** Immediate shutdown (SIGQUIT): like a crash; the next start runs crash recovery. */
  async crash(): Promise<void> {
    const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGQUIT');
    for (let i = 0; i < 100 && existsSync(join(this.dataDir, 'postmaster.pid')); i++) await sleep(100);
    this.server?.kill('SIGKILL');
    await this.exited;
    this.server = undefined;
  }

  client(): Client {
    return new Client({
      host: '127.0.0.1',
      port: this.port,
      user: 'postgres',
      password: 'postgres',
      database: 'hfts_faults',
    });
  }
}

export class Service {
  private proc?: ChildProcess;
  exit?: Promise<number | null>;
  output = '';
  port = 0;

  constructor(
    private readonly pg: Postgres,
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    this.output = '';
    const proc = spawn(process.execPath, ['dist/src/main.js'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODE_ENV: 'development',
        PORT: String(this.port),
        HOST: '127.0.0.1',
        POSTGRES_HOST: '127.0.0.1',
        POSTGRES_PORT: String(this.pg.port),
        POSTGRES_USER: 'postgres',
        POSTGRES_PASSWORD: 'postgres',
        POSTGRES_DB: 'hfts_faults',
        SECRET_KEY: SECRET,
        LOG_LEVEL: 'warn',
        BCRYPT_COST: '10',
        DB_CONNECT_TIMEOUT_MS: '1500',
        RATE_LIMIT_AUTH_PER_MINUTE: '0',
        RATE_LIMIT_USER_PER_SECOND: '0',
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        REDIS_HOST: '',
        ...this.env,
      },
    });
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exit = new Promise((done) => proc.on('exit', (code) => done(code)));
    this.proc = proc;
    for (let i = 0; i < 200; i++) {
      if ((await status(`${this.url}/health/ready`)) === 200) return;
      await sleep(100);
    }
    throw new Error(`service did not start:\n${this.output}`);
  }

  signal(signal: NodeJS.Signals): void {
    this.proc?.kill(signal);
  }
}

export async function status(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
}

export interface Outcome {
  key: string;
  status: number;
  code?: string;
  id?: string;
  retryAfter?: string | null;
  attempts: number;
}

/** An API client that records every response. */
export class Client2 {
  constructor(private readonly base: () => string) {}

  async call(method: string, path: string, token: string | undefined, body?: unknown, key?: string) {
    try {
      const res = await fetch(`${this.base()}/api/v1${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(key ? { 'idempotency-key': key } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15000),
      });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: json, retryAfter: res.headers.get('retry-after') };
    } catch {
      return { status: 0, body: {} as Record<string, unknown>, retryAfter: null };
    }
  }

  /**
   * One transfer attempt with a new Idempotency-Key, recorded in `outcomes` for the invariant check;
   * returns the response and how long it took.
   */
  async transferOnce(token: string, toWalletId: string, amount: string, outcomes: Outcome[]) {
    const key = randomUUID();
    const started = Date.now();
    const r = await this.call('POST', '/transfers', token, { toWalletId, amount, currency: 'USD' }, key);
    outcomes.push({ key, status: r.status, id: r.body.id as string, attempts: 1 });
    return { ...r, waited: Date.now() - started };
  }

  /**
   * A transfer that a careful client makes: when the outcome is unknown (no response, 503, 409 in
   * progress) it retries with the SAME Idempotency-Key, so the transfer applies at most once.
   */
  async transfer(
    token: string,
    toWalletId: string,
    amount: string,
    until: number,
    seen: number[],
  ): Promise<Outcome> {
    const key = randomUUID();
    for (let attempt = 1; ; attempt++) {
      const r = await this.call('POST', '/transfers', token, { toWalletId, amount, currency: 'USD' }, key);
      seen.push(r.status);
      const unknown = r.status === 0 || r.status === 503 || r.status === 409;
      if (!unknown || Date.now() > until) {
        return {
          key,
          status: r.status,
          code: r.body.code as string,
          id: r.body.id as string,
          retryAfter: r.retryAfter,
          attempts: attempt,
        };
      }
      await sleep(200);
    }
  }
}

export async function setUp(
  client: Client2,
  n: number,
): Promise<{ admin: string; users: Array<{ token: string; wallet: string }> }> {
  const login = async (email: string, password: string) =>
    (await client.call('POST', '/auth/login', undefined, { email, password })).body.accessToken as string;
  const admin = await login(ADMIN.email, ADMIN.password);
  const users: Array<{ token: string; wallet: string }> = [];
  for (let i = 0; i < n; i++) {
    const email = `f${randomUUID().slice(0, 8)}@example.com`;
    await client.call('POST', '/auth/register', undefined, {
      email,
      password: 'fault suite password',
      fullName: 'F',
    });
    const token = await login(email, 'fault suite password');
    const wallet = (await client.call('POST', '/wallets', token, { currency: 'USD' })).body.id as string;
    const dep = await client.call(
      'POST',
      `/admin/wallets/${wallet}/deposits`,
      admin,
      { amount: '100', currency: 'USD' },
      randomUUID(),
    );
    if (dep.status !== 201) throw new Error(`deposit failed: ${dep.status}`);
    users.push({ token, wallet });
  }
  return { admin, users };
}

/** The money invariants, straight from the tables, and every 2xx transfer present once as COMPLETED. */
/** The newest transaction's seq: transfers of a scenario are those after it. */
export async function lastSeq(pg: Postgres): Promise<string> {
  const c = pg.client();
  await c.connect();
  try {
    return (
      (await c.query(`SELECT COALESCE(max(seq), 0)::text AS s FROM transactions`)).rows[0] as { s: string }
    ).s;
  } finally {
    await c.end();
  }
}

export async function checkInvariants(pg: Postgres, outcomes: Outcome[], sinceSeq = '0'): Promise<void> {
  const c = pg.client();
  await c.connect();
  try {
    const q = async (sql: string, params: unknown[] = []) =>
      (await c.query(sql, params)).rows as Array<Record<string, unknown>>;
    expect(await q(CONSERVED_PER_CURRENCY)).toEqual([]);
    expect(await q(NO_NEGATIVE_BALANCE)).toEqual([]);
    expect(await q(BALANCE_EQUALS_LEDGER)).toEqual([]);
    const ok = outcomes.filter((o) => o.status === 201).map((o) => o.id);
    expect(new Set(ok).size).toBe(ok.length);
    const found = await q(`SELECT id FROM transactions WHERE id = ANY($1::uuid[]) AND status = 'COMPLETED'`, [
      ok,
    ]);
    expect(found.length).toBe(ok.length);
    // Exactly once: every completed transfer belongs to one key the client sent, and the keys whose
    // outcome stayed unknown (retries ran out) account for any extra.
    const [{ n }] = await q(
      `SELECT count(*)::int AS n FROM transactions WHERE type = 'TRANSFER' AND status = 'COMPLETED' AND seq > $1`,
      [sinceSeq],
    );
    const unknown = outcomes.filter((o) => ![201, 422].includes(o.status)).length;
    expect(n as number).toBeGreaterThanOrEqual(ok.length);
    expect(n as number).toBeLessThanOrEqual(ok.length + unknown);
  } finally {
    await c.end();
  }
  expect(outcomes.filter((o) => o.status >= 500 && o.status !== 503)).toEqual([]);
}
