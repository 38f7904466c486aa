import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseTarget } from '../../src/config/app-config';
import { createTestDatabase, dropTestDatabase } from './database';
import { TEST_SECRET } from './app';

// Plain CommonJS shared with the bench (see the file).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { freePort } = require('../../scripts/lib/free-port.cjs') as { freePort(): Promise<number> };

export const ROOT = join(__dirname, '..', '..');
export const ADMIN = { email: 'ops-admin@example.com', password: 'ops admin password 0123' };

function newest(path: string): number {
  const s = statSync(path, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}

/**
 * Builds dist/ when the sources are newer (as `npm start` does), under a lock so that two test files
 * never build at once. The service then runs as production runs it: `node dist/src/main.js`.
 */
export function buildIfStale(): void {
  const lock = join(
    tmpdir(),
    `hfts-build-${createHash('sha1').update(ROOT).digest('hex').slice(0, 12)}.lock`,
  );
  const script =
    'node -e "' +
    "const {statSync,readdirSync}=require('fs');const p=require('path');" +
    'const n=(f)=>{const s=statSync(f,{throwIfNoEntry:false});if(!s)return 0;' +
    'return s.isDirectory()?Math.max(0,...readdirSync(f).map((e)=>n(p.join(f,e)))):s.mtimeMs};' +
    "process.exit(n('dist/src/main.js')>=Math.max(n('src'),n('migrations'),n('package.json'))?0:1)" +
    '" || npx nest build';
  if (
    newest(join(ROOT, 'dist/src/main.js')) >=
    Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'package.json')))
  )
    return;
  const r = spawnSync('flock', [lock, 'sh', '-c', script], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('build failed');
}

export interface BuiltService {
  url: string;
  db: DatabaseTarget;
  proc: ChildProcess;
  /** Everything the service has written to stdout so far. */
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts the built service on a free port and a fresh database of its own (cloned from the migrated
 * template), with `args` before dist's entry (e.g. a script that starts tracing first). Resolves once
 * it is ready; stop() ends it with SIGTERM and drops its database.
 */
export async function startBuiltService(
  env: Record<string, string> = {},
  entry: string[] = ['dist/src/main.js'],
): Promise<BuiltService> {
  buildIfStale();
  const db = await createTestDatabase();
  const port = await freePort();
  let out = '';
  let err = '';
  const proc = spawn(process.execPath, entry, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      POSTGRES_HOST: db.host,
      POSTGRES_PORT: String(db.port),
      POSTGRES_USER: db.user,
      POSTGRES_PASSWORD: db.password,
      POSTGRES_DB: db.database,
      DB_RUN_MIGRATIONS: 'false',
      SECRET_KEY: TEST_SECRET,
      BCRYPT_COST: '10',
      RATE_LIMIT_AUTH_PER_MINUTE: '0',
      RATE_LIMIT_USER_PER_SECOND: '0',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ...env,
    },
  });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((done) => proc.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15000);
    await exited;
    clearTimeout(timer);
    await dropTestDatabase(db.database);
  };
  for (let i = 0; ; i++) {
    const ready = await fetch(`${url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (i > 600 || proc.exitCode !== null) {
      await stop();
      throw new Error(`the service did not start:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, db, proc, stdout: () => out, stderr: () => err, stop };
}

/** A JSON request to the service; the body parsed when there is one. */
export async function call(
  service: BuiltService,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: /json/.test(res.headers.get('content-type') ?? '')
      ? (JSON.parse(text) as Record<string, unknown>)
      : {},
  };
}

/** Registers and logs in a user; returns its id and token. */
export async function signUp(service: BuiltService, email: string): Promise<{ id: string; token: string }> {
  const password = 'correct horse battery staple';
  const reg = await call(service, 'POST', '/api/v1/auth/register', {
    body: { email, password, fullName: 'Ops Test' },
  });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
  return { id: reg.body.id as string, token: await logIn(service, email, password) };
}

export async function logIn(service: BuiltService, email: string, password: string): Promise<string> {
  const login = await call(service, 'POST', '/api/v1/auth/login', { body: { email, password } });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
  return login.body.accessToken as string;
}
