import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool, PoolClient } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { parse as parseYaml } from 'yaml';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser, type TestUser } from '../support/factories';

const API = '/api/v1';
const ROOT = join(__dirname, '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const COMMIT = 'c0ffee1234ab';

/** Every sample of the service's own /metrics page, parsed from the exposition text. */
async function scrape(
  t: TestApp,
): Promise<Array<{ name: string; labels: Record<string, string>; value: number }>> {
  const res = await request(t.server).get('/metrics').expect(200);
  const samples = [];
  for (const line of res.text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
async function sample(t: TestApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrape(t))
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

describe('operations metrics (real service on real PostgreSQL, read from GET /metrics)', () => {
  let t: TestApp;
  let admin: TestUser;
  const post = (u: TestUser, path: string, body: Record<string, unknown>, key: string = randomUUID()) =>
    request(t.server)
      .post(`${API}${path}`)
      .auth(u.token, { type: 'bearer' })
      .set('Idempotency-Key', key)
      .send(body);

  beforeAll(async () => {
    t = await startTestApp({ GIT_COMMIT: COMMIT, DB_POOL_SIZE: '3' });
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('counts the amount each completed movement moves, by currency and type, and nothing for refusals, replays and holds', async () => {
    const moved = (type: string, currency = 'USD') => sample(t, 'money_moved_total', { currency, type });
    const deposits = await moved('deposit');
    const a = await fundedUser(t, admin, '100.5');
    const b = await fundedUser(t, admin, '0');
    expect((await moved('deposit')) - deposits).toBeCloseTo(100.5, 6);

    const transfers = await moved('transfer');
    const key = randomUUID();
    const body = { toWalletId: b.wallet.id, amount: '12.3456', currency: 'USD' };
    expect((await post(a.user, '/transfers', body, key)).status).toBe(201);
    expect((await moved('transfer')) - transfers).toBeCloseTo(12.3456, 6);

    // A replay, a refusal and a hold move nothing; the hold's capture moves what it captures.
    expect((await post(a.user, '/transfers', body, key)).status).toBe(201);
    expect((await post(a.user, '/transfers', { ...body, amount: '1000' })).status).toBe(422);
    const hold = await post(a.user, '/transfers', { ...body, amount: '40', hold: true });
    expect(hold.status).toBe(201);
    expect((await moved('transfer')) - transfers).toBeCloseTo(12.3456, 6);
    const id = (hold.body as { id: string }).id;
    expect((await post(b.user, `/transfers/${id}/capture`, { amount: '25' })).status).toBe(200);
    expect((await moved('transfer')) - transfers).toBeCloseTo(37.3456, 6);

    // No amount is ever a label.
    for (const s of await scrape(t)) {
      for (const [k, v] of Object.entries(s.labels))
        if (k !== 'le' && k !== 'quantile') expect(v).not.toMatch(/^\d+\.\d+$/);
    }
  });

  it('counts refusals by their problem code, replayed refusals included', async () => {
    const refused = (code: string) => sample(t, 'refusals_total', { code });
    const before = {
      unauthenticated: await refused('UNAUTHENTICATED'),
      notFound: await refused('WALLET_NOT_FOUND'),
      funds: await refused('INSUFFICIENT_FUNDS'),
    };
    await request(t.server).get(`${API}/wallets/me`).expect(401);
    await request(t.server).get(`${API}/wallets/me`).auth('not-a-token', { type: 'bearer' }).expect(401);
    const lonely = await createUser(t);
    await request(t.server).get(`${API}/wallets/me`).auth(lonely.token, { type: 'bearer' }).expect(404);
    const a = await fundedUser(t, admin, '1');
    const b = await fundedUser(t, admin, '0');
    const key = randomUUID();
    const body = { toWalletId: b.wallet.id, amount: '5', currency: 'USD' };
    expect((await post(a.user, '/transfers', body, key)).status).toBe(422);
    const replay = await post(a.user, '/transfers', body, key);
    expect(replay.status).toBe(422);
    expect(replay.headers['idempotent-replayed']).toBe('true');

    expect((await refused('UNAUTHENTICATED')) - before.unauthenticated).toBe(2);
    expect((await refused('WALLET_NOT_FOUND')) - before.notFound).toBe(1);
    expect((await refused('INSUFFICIENT_FUNDS')) - before.funds).toBe(2);
  });

  it('times every query the pool runs, TypeORM and the engine alike', async () => {
    const queries = () => sample(t, 'db_query_duration_seconds_count', { outcome: 'ok' });
    const failed = () => sample(t, 'db_query_duration_seconds_count', { outcome: 'error' });
    const before = await queries();
    await createUser(t); // TypeORM: the user insert and the login lookup
    const afterTypeorm = await queries();
    expect(afterTypeorm).toBeGreaterThanOrEqual(before + 2);
    const a = await fundedUser(t, admin, '10'); // the engine's deposit statements, on the pool directly
    const b = await fundedUser(t, admin, '0');
    const beforeTransfer = await queries();
    expect(
      (await post(a.user, '/transfers', { toWalletId: b.wallet.id, amount: '1', currency: 'USD' })).status,
    ).toBe(201);
    expect(await queries()).toBeGreaterThanOrEqual(beforeTransfer + 2); // read and write
    expect(await sample(t, 'db_query_duration_seconds_sum')).toBeGreaterThan(0);

    const errorsBefore = await failed();
    await expect(t.app.get(DataSource).query('SELECT * FROM no_such_table')).rejects.toThrow();
    expect((await failed()) - errorsBefore).toBe(1);
  });

  it('reads the pool behind TypeORM: total, idle and waiting connections', async () => {
    const pool = (t.app.get(DataSource).driver as PostgresDriver).master as Pool;
    const held: PoolClient[] = [];
    let waiting: Promise<PoolClient> | undefined;
    try {
      for (let i = 0; i < 3; i++) held.push(await pool.connect());
      waiting = pool.connect(); // DB_POOL_SIZE=3: this one waits (and so may the app's own jobs)
      await eventually(async () =>
        expect(await sample(t, 'db_pool_waiting_requests')).toBeGreaterThanOrEqual(1),
      );
      expect(await sample(t, 'db_pool_connections_total')).toBe(3);
      expect(await sample(t, 'db_pool_connections_idle')).toBe(0);
    } finally {
      for (const c of held.splice(0)) c.release();
      if (waiting) (await waiting).release();
    }
    await eventually(async () => {
      expect(await sample(t, 'db_pool_waiting_requests')).toBe(0);
      expect(await sample(t, 'db_pool_connections_idle')).toBe(await sample(t, 'db_pool_connections_total'));
    });
  });

  it('says which build runs: the version in package.json and the commit', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const [info] = (await scrape(t)).filter((s) => s.name === 'hfts_build_info');
    expect(info).toEqual({
      name: 'hfts_build_info',
      labels: { version, commit: COMMIT, node: process.version },
      value: 1,
    });
  });

  describe('deploy/: alert rules and dashboard', () => {
    const alerts = join(DEPLOY, 'prometheus', 'alerts.yml');
    const dashboard = join(DEPLOY, 'grafana', 'hfts.json');

    /** Metric names a PromQL expression selects (`name{...}`; every expression here uses a selector). */
    const metricsIn = (expr: string) => [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]);
    const exprs = (): string[] => {
      const rules = (
        parseYaml(readFileSync(alerts, 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> }
      ).groups.flatMap((g) => g.rules.map((r) => r.expr));
      const panels = (
        JSON.parse(readFileSync(dashboard, 'utf8')) as {
          panels: Array<{ targets?: Array<{ expr: string }> }>;
        }
      ).panels.flatMap((p) => (p.targets ?? []).map((target) => target.expr));
      return [...rules, ...panels];
    };

    it('name only metrics the service exports (or declares, for those registered only with NATS or Redis)', async () => {
      const exported = new Set((await scrape(t)).map((s) => s.name));
      const sources = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory()
            ? sources(join(dir, e.name))
            : e.name.endsWith('.ts')
              ? [readFileSync(join(dir, e.name), 'utf8')]
              : [],
        );
      const declared = new Set(
        sources(join(ROOT, 'src')).flatMap((s) =>
          [...s.matchAll(/name: '([a-z_:][a-z0-9_:]*)'/g)].map((m) => m[1]),
        ),
      );
      const names = new Set(exprs().flatMap(metricsIn));
      expect(names.size).toBeGreaterThan(10);
      const unknown = [...names].filter((n) => {
        if (n === 'up') return false; // Prometheus's own, per target
        if (exported.has(n)) return false;
        const base = n.replace(/_(bucket|count|sum)$/, '');
        return !declared.has(base) && !declared.has(n);
      });
      expect(unknown).toEqual([]);
    });

    it('pass promtool: the rules check, their unit tests and the example scrape configuration', () => {
      const promtool = ensurePromtool();
      const run = (...args: string[]) =>
        spawnSync(promtool, args, { cwd: join(DEPLOY, 'prometheus'), encoding: 'utf8' });
      for (const args of [
        ['check', 'rules', 'alerts.yml'],
        ['test', 'rules', 'alerts.test.yml'],
        ['check', 'config', 'prometheus.yml'],
      ]) {
        const r = run(...args);
        expect({ args, status: r.status, out: r.status === 0 ? '' : r.stdout + r.stderr }).toEqual({
          args,
          status: 0,
          out: '',
        });
      }
      // Installing Debian's prometheus (with apt-get update) on a fresh machine can take minutes.
    }, 600_000);
  });
});

/** Retries `check` until it passes (1 s at most): gauges read a pool that the app's own jobs use too. */
async function eventually(check: () => Promise<void>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await check();
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** promtool from Debian's prometheus package, installed when missing (CI runs as root). */
function ensurePromtool(): string {
  const which = () => spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();
  if (which()) return which();
  const apt = (...args: string[]) =>
    execFileSync('apt-get', args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    apt('install', '-y', '--no-install-recommends', 'prometheus');
  } catch {
    apt('update');
    apt('install', '-y', '--no-install-recommends', 'prometheus');
  }
  const found = which();
  if (!found) throw new Error('promtool is still missing after installing prometheus');
  return found;
}
