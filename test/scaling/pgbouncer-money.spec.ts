import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, fundedUser } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';
import { testServer } from '../support/test-env';
import { PgBouncer } from './support/pgbouncer';

/**
 * The service behind a real pgbouncer in transaction pooling mode (Debian's 1.18: no startup `options`,
 * no prepared statements across pooled server connections), with DB_POOLER=transaction. The money,
 * holds and idempotency suites below are the integration ones, unchanged: test/support/app.ts points
 * every app they start at this pgbouncer (HFTS_TEST_PGBOUNCER_PORT); their assertions read the tables
 * over direct connections to PostgreSQL.
 */
const bouncer = new PgBouncer({ poolMode: 'transaction', poolSize: 4 });

beforeAll(async () => {
  await bouncer.start(testServer());
  process.env.HFTS_TEST_PGBOUNCER_PORT = String(bouncer.port);
});
afterAll(async () => {
  delete process.env.HFTS_TEST_PGBOUNCER_PORT;
  await bouncer.stop();
});

describe('through pgbouncer (transaction pooling)', () => {
  it('every pooled server connection works as the app role with the configured timeouts, in UTC', async () => {
    const t = await startTestApp({ DB_STATEMENT_TIMEOUT_MS: '7000', DB_LOCK_TIMEOUT_MS: '2500' });
    try {
      const ds = t.app.get(DataSource);
      // More clients at once than pgbouncer has server connections: every one of them answers.
      const rows = await Promise.all(
        Array.from({ length: 24 }, () =>
          ds.query<Array<Record<string, string>>>(
            `SELECT current_user AS role, current_setting('statement_timeout') AS st,
                    current_setting('lock_timeout') AS lt, extract(timezone FROM now())::text AS tz,
                    current_setting('idle_in_transaction_session_timeout') AS idle,
                    pg_backend_pid()::text AS pid, pg_sleep(0.05)::text AS _`,
          ),
        ),
      );
      const seen = rows.map(([r]) => ({ role: r.role, st: r.st, lt: r.lt, tz: r.tz, idle: r.idle }));
      expect(new Set(seen.map((r) => JSON.stringify(r)))).toEqual(
        new Set([JSON.stringify({ role: 'hfts_app', st: '7s', lt: '2500ms', tz: '0', idle: '15s' })]),
      );
      // The answers came from several server connections, all through pgbouncer's few.
      const pids = new Set(rows.map(([r]) => r.pid));
      expect(pids.size).toBeGreaterThan(1);
      expect(pids.size).toBeLessThanOrEqual(4);
    } finally {
      await t.close();
    }
  });

  it('works behind session pooling too (DB_POOLER=session): settings from the role, a transfer moves money', async () => {
    // In session pooling every open client connection holds a server connection: the pool must cover all of
    // the instance's connections (DB_POOL_SIZE 4 here, and 10 for the listener, relay, ledger, webhooks and
    // exports; docs/SCALING.md). With 4, the idle connections of the sequencer, the listener and the ledger
    // took every server connection and the transfer waited for one until the client gave up.
    const session = new PgBouncer({ poolMode: 'session', poolSize: 16 });
    await session.start(testServer());
    // This test picks its own pooler: the suite's switch would point the app at the transaction one.
    delete process.env.HFTS_TEST_PGBOUNCER_PORT;
    let t: TestApp | undefined;
    try {
      t = await startTestApp({
        POSTGRES_HOST: '127.0.0.1',
        POSTGRES_PORT: String(session.port),
        DB_POOLER: 'session',
        DB_POOL_SIZE: '4',
      });
      const [r] = await t.app
        .get(DataSource)
        .query<Array<{ role: string; st: string }>>(
          `SELECT current_user AS role, current_setting('statement_timeout') AS st`,
        );
      expect(r).toEqual({ role: 'hfts_app', st: '10s' });
      const admin = await createUser(t, { role: 'ADMIN' });
      const a = await fundedUser(t, admin, '10');
      const b = await fundedUser(t, admin, '0');
      const res = await request(t.server)
        .post('/api/v1/transfers')
        .auth(a.user.token, { type: 'bearer' })
        .set('Idempotency-Key', randomUUID())
        .send({ toWalletId: b.wallet.id, amount: '4', currency: 'USD' });
      expect(res.status).toBe(201);
      await expectLedgerConsistent(t, admin);
    } finally {
      process.env.HFTS_TEST_PGBOUNCER_PORT = String(bouncer.port);
      await t?.close();
      await session.stop();
    }
  });

  it('migrates an empty database through pgbouncer, two instances starting at once taking turns', async () => {
    const server = testServer();
    const name = `hfts_test_pgb_${process.pid}_${Date.now().toString(36)}`;
    const admin = new Client({ ...server, database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const db = { ...server, database: name };
    let apps: TestApp[] = [];
    try {
      const started = await Promise.allSettled(
        [0, 1].map(() => startTestApp({ DB_RUN_MIGRATIONS: 'true' }, db)),
      );
      apps = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      expect(started.map((s) => (s.status === 'rejected' ? String(s.reason) : 'started'))).toEqual([
        'started',
        'started',
      ]);
      const { rows } = await apps[0].sql.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM schema_migrations',
      );
      expect(Number(rows[0].n)).toBeGreaterThan(0);
      const migrations = await apps[0].app.get(DataSource).showMigrations();
      expect(migrations).toBe(false); // nothing pending
    } finally {
      for (const a of apps) await a.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});

// The money, holds and idempotency suites, through pgbouncer.
import '../integration/ledger-engine.spec';
import '../integration/contended-paths.spec';
import '../integration/locked-path-refusals.spec';
