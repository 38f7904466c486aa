import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client } from 'pg';
import request from 'supertest';
import { freePort } from '../../scripts/lib/free-port.cjs';
import type { DatabaseTarget } from '../../src/config/app-config';
import { startTestApp, TEST_SECRET } from '../support/app';
import { connect, createTestDatabase, dropTestDatabase } from '../support/database';

/** Issue 17 (QA): `npm run seed` makes demo users, wallets and balances on the configured database. */

const ROOT = join(__dirname, '..', '..');

interface Seeded {
  admin: { email: string; password: string; token: string };
  users: Array<{
    key: string;
    email: string;
    password: string;
    token: string;
    walletId: string;
    currency: string;
    balance: string;
  }>;
}

/** What the seed promises: each demo user's deposit, less or plus the demo transfer (alice pays bob 25). */
const EXPECTED = [
  ['alice', 'alice.demo@example.com', 'USD', '975.0000'],
  ['bob', 'bob.demo@example.com', 'USD', '275.0000'],
  ['carol', 'carol.demo@example.com', 'EUR', '500.0000'],
];

/**
 * Runs `node scripts/seed.mjs --json` (or, with `table`, the plain `npm run seed` output) with only the
 * environment given.
 */
function runSeed(
  env: Record<string, string>,
  table = false,
): Promise<{ stdout: string; stderr: string; result: Seeded }> {
  return new Promise((resolve, reject) => {
    const args = [join(ROOT, 'scripts', 'seed.mjs'), ...(table ? [] : ['--json'])];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        NODE_ENV: 'test',
        SECRET_KEY: TEST_SECRET,
        BCRYPT_COST: '10',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A seed that hangs is stopped, so that it cannot outlive the test.
    const timer = setTimeout(() => child.kill('SIGKILL'), 480_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      if (status !== 0) return reject(new Error(`seed exited ${status}: ${stderr}`));
      resolve({ stdout, stderr, result: (table ? undefined : JSON.parse(stdout)) as Seeded });
    });
  });
}

/**
 * The service as `npm start` runs it (src/main.js, here from the seed's own build, which the first run
 * made: dist/ is not this test's to rebuild), on a free port, ready; stop() waits for its exit.
 */
async function startService(env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(ROOT, 'node_modules', '.cache', 'hfts-seed', 'src', 'main.js')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        SECRET_KEY: TEST_SECRET,
        LOG_LEVEL: 'warn',
        PORT: String(port),
        HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited ${child.exitCode}: ${output}`);
    const ready = await request(url)
      .get('/health/ready')
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ready) break;
    if (i > 240) {
      child.kill('SIGTERM');
      throw new Error(`the service was not ready in 120 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const serverEnv = (db: DatabaseTarget): Record<string, string> => ({
  POSTGRES_HOST: db.host,
  POSTGRES_PORT: String(db.port),
  POSTGRES_USER: db.user,
  POSTGRES_PASSWORD: db.password,
  POSTGRES_DB: db.database,
});

async function balances(sql: Client): Promise<string[][]> {
  const { rows } = await sql.query<{ email: string; currency: string; balance: string }>(
    `SELECT u.email, w.currency, w.balance::text AS balance
       FROM users u JOIN wallets w ON w.user_id = u.id ORDER BY u.email`,
  );
  return rows.map((r) => [r.email, r.currency, r.balance]);
}

const expectedRows = EXPECTED.map(([, email, currency, balance]) => [email, currency, balance]);

describe('npm run seed', () => {
  let db: DatabaseTarget;
  let first: Seeded;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The first run compiles the sources (incrementally: a full build the first time).
    first = (await runSeed(serverEnv(db))).result;
  }, 600_000);

  afterAll(async () => {
    if (db) await dropTestDatabase(db.database);
  });

  it('makes the demo users, wallets and balances on the configured database', async () => {
    expect(first.users.map((u) => [u.key, u.email, u.currency, u.balance])).toEqual(EXPECTED);
    const sql = await connect(db);
    try {
      expect(await balances(sql)).toEqual(expectedRows);
      const { rows } = await sql.query(`SELECT role FROM users WHERE email = $1`, [first.admin.email]);
      expect(rows).toEqual([{ role: 'ADMIN' }]);
      // Money came in as deposits only, and moved between the demo wallets as one transfer.
      const moved = await sql.query(
        `SELECT type, count(*)::int AS n, sum(amount)::text AS total FROM transactions GROUP BY type ORDER BY type`,
      );
      expect(moved.rows).toEqual([
        { type: 'DEPOSIT', n: 3, total: '1750.0000' },
        { type: 'TRANSFER', n: 1, total: '25.0000' },
      ]);
    } finally {
      await sql.end();
    }
  });

  it('prints tokens the service accepts, for each demo user and for the admin', async () => {
    const t = await startTestApp({}, db);
    try {
      for (const u of first.users) {
        const me = await request(t.server).get('/api/v1/wallets/me').auth(u.token, { type: 'bearer' });
        expect([u.key, me.status, me.body.id, me.body.balance]).toEqual([u.key, 200, u.walletId, u.balance]);
      }
      const reconciliation = await request(t.server)
        .get('/api/v1/admin/reconciliation')
        .auth(first.admin.token, { type: 'bearer' });
      expect(reconciliation.status).toBe(200);
      const login = await request(t.server)
        .post('/api/v1/auth/login')
        .send({ email: first.users[0].email, password: first.users[0].password });
      expect(login.status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('changes nothing when run again (every movement replays its Idempotency-Key)', async () => {
    const again = (await runSeed(serverEnv(db))).result;
    expect(again.users.map((u) => [u.key, u.walletId, u.balance])).toEqual(
      first.users.map((u) => [u.key, u.walletId, u.balance]),
    );
    const sql = await connect(db);
    try {
      expect(await balances(sql)).toEqual(expectedRows);
      const { rows } = await sql.query(`SELECT count(*)::int AS n FROM transactions`);
      expect(rows).toEqual([{ n: 4 }]);
    } finally {
      await sql.end();
    }
  });

  it('with POSTGRES_HOST unset, seeds the embedded PostgreSQL, and the one npm start is running there', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'hfts-seed-')), 'postgres');
    try {
      // Nothing running there: the seed starts the embedded server, seeds it and stops it.
      const own = await runSeed({ EMBEDDED_PG_DIR: dataDir, POSTGRES_DB: 'hfts_seed' }, true);
      expect(own.stderr).toMatch(/starting the embedded PostgreSQL/);
      // The table: a row per demo user with its balance, then a bearer token each.
      for (const [key, email, currency, balance] of EXPECTED) {
        expect(own.stdout).toMatch(new RegExp(`^${key} +${email} .* ${balance} ${currency}$`, 'm'));
        expect(own.stdout).toMatch(new RegExp(`^${key} +eyJ[\\w-]+\\.[\\w-]+\\.[\\w-]+$`, 'm'));
      }

      // The service running on that directory, as `npm start` runs it: the seed uses its PostgreSQL (neither
      // stopping nor restarting it), and the running service accepts the tokens printed.
      const service = await startService({ EMBEDDED_PG_DIR: dataDir, POSTGRES_DB: 'hfts_seed' });
      try {
        const again = await runSeed({ EMBEDDED_PG_DIR: dataDir, POSTGRES_DB: 'hfts_seed' });
        expect(again.stderr).toMatch(/already running/);
        expect(again.result.users.map((u) => [u.key, u.email, u.currency, u.balance])).toEqual(EXPECTED);
        for (const u of again.result.users) {
          const me = await request(service.url).get('/api/v1/wallets/me').auth(u.token, { type: 'bearer' });
          expect([u.key, me.status, me.body.balance]).toEqual([u.key, 200, u.balance]);
        }
        await request(service.url).get('/health/ready').expect(200);
      } finally {
        await service.stop();
      }
    } finally {
      rmSync(dirname(dataDir), { recursive: true, force: true });
    }
  });
});
