#!/usr/bin/env node
// npm run seed [-- --json]: demo users, wallets and balances on the configured database, and their tokens.
//
// The database is the one `npm start` uses: POSTGRES_* from the environment and .env, or, with
// POSTGRES_HOST unset, the embedded PostgreSQL under EMBEDDED_PG_DIR (the server `npm start` is running
// there, when it is: read from its postmaster.pid; else started for the seed and stopped after).
// Everything goes through the service's own HTTP API, in this process (Fastify's inject: no port), with the
// same module, validation and engine as production: register, log in, open a wallet, admin deposits and a
// transfer, each movement with a fixed Idempotency-Key, so a second run replays them and changes nothing.
// The admin is ADMIN_EMAIL/ADMIN_PASSWORD when set (ensured at start-up, as `npm start` does), else a
// demo admin. The tokens are signed with SECRET_KEY: without one they are good only for this run.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const json = process.argv.includes('--json');
const build = join(root, 'node_modules', '.cache', 'hfts-seed');

const DEMO_PASSWORD = 'demo password 1234';
const DEMO_ADMIN = { email: 'admin.demo@example.com', password: 'demo admin password' };
/** The demo accounts: each opens a wallet and gets `deposit`; then the transfers below run. */
const USERS = [
  {
    key: 'alice',
    email: 'alice.demo@example.com',
    fullName: 'Alice Demo',
    currency: 'USD',
    deposit: '1000.00',
  },
  { key: 'bob', email: 'bob.demo@example.com', fullName: 'Bob Demo', currency: 'USD', deposit: '250.00' },
  {
    key: 'carol',
    email: 'carol.demo@example.com',
    fullName: 'Carol Demo',
    currency: 'EUR',
    deposit: '500.00',
  },
];
const TRANSFERS = [
  { from: 'alice', to: 'bob', amount: '25.00', currency: 'USD', description: 'Demo: dinner' },
];

const say = (line) => process.stderr.write(`seed: ${line}\n`);

/**
 * Compiles the sources (tsc, incremental) into a directory of the seed's own, as scripts/openapi.mjs does:
 * dist/ belongs to `npm start` and to whoever is rebuilding it; its output goes to stderr (stdout is the result).
 */
function compile() {
  const tsc = spawnSync(
    process.execPath,
    [
      require.resolve('typescript/bin/tsc'),
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      build,
      '--tsBuildInfoFile',
      join(build, '.tsbuildinfo'),
    ],
    { cwd: root, stdio: ['ignore', 2, 2] },
  );
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  // The password hasher's worker is plain JavaScript, which tsc does not copy (nest build copies it as an asset).
  copyFileSync(
    join(root, 'src/auth/password-hash.worker.js'),
    join(build, 'src/auth/password-hash.worker.js'),
  );
}

/** The port of a PostgreSQL running on `dataDir` (line 4 of postmaster.pid), or undefined. */
function runningServerPort(dataDir) {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const [pid, , , port] = readFileSync(file, 'utf8').split('\n').map(Number);
  if (!(pid > 0)) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  return port || undefined;
}

/** The configured database, and how to let go of it. */
async function database(config) {
  if (!config.database.embedded) return { config, stop: async () => undefined };
  const { startEmbeddedDatabase } = require(join(build, 'src/bootstrap/embedded-database.js'));
  const dataDir = resolve(config.env.EMBEDDED_PG_DIR);
  const port = runningServerPort(dataDir);
  if (port) {
    // Started by `npm start` (src/bootstrap/embedded-database.ts), whose fixed credentials these are.
    say(`using the embedded PostgreSQL already running on ${dataDir} (port ${port})`);
    const target = {
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: 'postgres',
      database: config.env.POSTGRES_DB,
    };
    return { config: config.withDatabase(target, true), stop: async () => undefined };
  }
  say(`starting the embedded PostgreSQL in ${dataDir}`);
  const embedded = await startEmbeddedDatabase({ dataDir, database: config.env.POSTGRES_DB });
  return { config: config.withDatabase(embedded.target, true), stop: () => embedded.stop() };
}

/** One request through the whole HTTP stack; throws unless the status is one of `ok`. */
async function call(app, method, url, { token, key, body, ok = [200, 201] } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers['idempotency-key'] = key;
  const res = await app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method,
      url: `/api/v1${url}`,
      headers,
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
  const parsed = res.body ? JSON.parse(res.body) : undefined;
  if (!ok.includes(res.statusCode)) {
    throw new Error(
      `${method} ${url}: ${res.statusCode} ${parsed?.code ?? ''} ${parsed?.detail ?? res.body}`,
    );
  }
  return { status: res.statusCode, body: parsed };
}

async function logIn(app, email, password) {
  const { body } = await call(app, 'POST', '/auth/login', { body: { email, password } });
  return body.accessToken;
}

/** The demo data; every step may already have been done by an earlier run. */
async function seed(app, admin) {
  const adminToken = await logIn(app, admin.email, admin.password);
  const accounts = {};
  for (const u of USERS) {
    const reg = await call(app, 'POST', '/auth/register', {
      body: { email: u.email, password: DEMO_PASSWORD, fullName: u.fullName },
      ok: [201, 409],
    });
    if (reg.status === 409 && reg.body.code !== 'EMAIL_TAKEN')
      throw new Error(`register ${u.email}: ${reg.body.code}`);
    const token = await logIn(app, u.email, DEMO_PASSWORD);
    const opened = await call(app, 'POST', '/wallets', {
      token,
      body: { currency: u.currency },
      ok: [201, 409],
    });
    const wallet =
      opened.status === 201 ? opened.body : (await call(app, 'GET', '/wallets/me', { token })).body;
    if (wallet.currency !== u.currency) throw new Error(`${u.email} already has a ${wallet.currency} wallet`);
    await call(app, 'POST', `/admin/wallets/${wallet.id}/deposits`, {
      token: adminToken,
      key: `demo-seed:deposit:${wallet.id}`,
      body: { amount: u.deposit, currency: u.currency, reference: 'demo-seed' },
    });
    accounts[u.key] = { email: u.email, password: DEMO_PASSWORD, token, walletId: wallet.id };
  }
  for (const [i, t] of TRANSFERS.entries()) {
    const from = accounts[t.from];
    const to = accounts[t.to];
    await call(app, 'POST', '/transfers', {
      token: from.token,
      key: `demo-seed:transfer:${i}:${to.walletId}`,
      body: { toWalletId: to.walletId, amount: t.amount, currency: t.currency, description: t.description },
    });
  }
  const users = [];
  for (const [key, a] of Object.entries(accounts)) {
    const { body: wallet } = await call(app, 'GET', '/wallets/me', { token: a.token });
    users.push({ key, ...a, currency: wallet.currency, balance: wallet.balance });
  }
  return { admin: { email: admin.email, password: admin.password, token: adminToken }, users };
}

function print(result, config) {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const rows = [
    ['who', 'email', 'password', 'wallet', 'balance'],
    ['admin', result.admin.email, result.admin.password, '', ''],
    ...result.users.map((u) => [u.key, u.email, u.password, u.walletId, `${u.balance} ${u.currency}`]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows)
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  console.log(`\nBearer tokens (${config.env.JWT_TTL_SECONDS} s; paste one into Swagger UI's Authorize):`);
  console.log(`admin  ${result.admin.token}`);
  for (const u of result.users) console.log(`${u.key.padEnd(5)}  ${u.token}`);
}

async function main() {
  compile();
  if (existsSync(join(root, '.env'))) process.loadEnvFile(join(root, '.env'));
  const { loadConfig } = require(join(build, 'src/config/app-config.js'));
  const { createApp } = require(join(build, 'src/bootstrap/create-app.js'));
  const env = process.env;
  if (env.NODE_ENV === 'production') {
    say('refusing to make demo accounts with known passwords in production (NODE_ENV=production)');
    process.exit(1);
  }
  const admin =
    env.ADMIN_EMAIL && env.ADMIN_PASSWORD
      ? { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }
      : DEMO_ADMIN;
  // This instance's own limits only: a shared Redis limit would still count for everyone else.
  const base = loadConfig({
    ...env,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    RATE_LIMIT_USER_PER_SECOND: '0',
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
  });
  const db = await database(base);
  let app;
  try {
    app = await createApp(db.config, { bufferLogs: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const { host, port, database: name } = db.config.database;
    say(`seeding ${name} at ${host}:${port}`);
    const result = await seed(app, admin);
    print(result, db.config);
    if (db.config.secretKeyGenerated) {
      say('SECRET_KEY is not set, so these tokens were signed with a key of this run only and `npm start`');
      say('will refuse them: set SECRET_KEY in .env (both read it), or log in with the passwords above');
    }
  } finally {
    await app?.close();
    await db.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    say(`failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
