import { Logger } from '@nestjs/common';
import { DataSource, type QueryRunner } from 'typeorm';
import { MigrationExecutor } from 'typeorm/migration/MigrationExecutor';
import { buildDataSourceOptions, type DatabaseSettings, sessionSettings } from './data-source-options';
import { sqlState } from './pg-errors';

/** SQLSTATE 57P01: the session was terminated (here: by itself, on purpose). */
const ADMIN_SHUTDOWN = '57P01';

/**
 * The key of the transaction-level advisory lock under which instances prepare the database: two
 * instances starting at once must not both run the same migration. A transaction lock, not a session
 * one: behind a transaction pooler the unlock of a session lock could reach another server connection.
 */
export const PREPARE_LOCK_KEY = 0x68667473; // 'hfts'

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * Before the service's pool opens: run pending migrations as the login role (which owns the schema), and
 * decide which role the pool works as. The configured app role is used when it exists and the login role
 * may switch to it; otherwise the service says so once and works as the login role (the append-only
 * triggers still protect history). Returns the settings the service's pool should use.
 *
 * Everything runs in one transaction under PREPARE_LOCK_KEY, so it works through a transaction pooler
 * (pgbouncer) and instances starting together take turns: the second finds the migrations applied.
 * Behind a pooler (DB_POOLER), the settings that travel as startup options without one (timeouts,
 * TimeZone, the role switch) are stored on the login role in this database (ALTER ROLE ... IN DATABASE
 * ... SET), so every server connection the pooler opens starts with them.
 */
export async function prepareDatabase(s: DatabaseSettings): Promise<DatabaseSettings> {
  const owner = new DataSource({
    ...buildDataSourceOptions({ ...s, appRole: undefined, poolSize: 1 }),
    entities: [],
    migrationsRun: false,
  });
  await owner.initialize();
  const q = owner.createQueryRunner();
  try {
    await q.startTransaction();
    const started = await sessionState(q);
    // Once a pooler's role setting switches sessions to the app role, the owner's work switches back
    // (to the login role); migrations may take longer than the service's statement timeout.
    await q.query('SET LOCAL ROLE NONE');
    await q.query('SET LOCAL statement_timeout = 0');
    await q.query('SET LOCAL lock_timeout = 0');
    await q.query('SELECT pg_advisory_xact_lock($1)', [PREPARE_LOCK_KEY]);
    if (s.runMigrations) {
      const migrations = new MigrationExecutor(owner, q);
      migrations.transaction = 'all';
      await migrations.executePendingMigrations();
    }
    const appRole = await usableAppRole(q, s);
    const ready = { ...s, runMigrations: false, appRole };
    if ((s.pooler ?? 'none') === 'none') {
      await q.commitTransaction();
      return ready;
    }
    await storeRoleSettings(q, ready);
    if (sameState(started, ready)) {
      await q.commitTransaction();
      return ready;
    }
    // This server connection started before the settings existed (the first start on this database):
    // left in the pooler's pool it would serve the service as the login role with no timeouts. Commit
    // and close it in one message, which a transaction pooler keeps on this server connection; the
    // pooler opens a fresh one, which reads the settings, when it next needs one.
    await q.query('COMMIT; SELECT pg_terminate_backend(pg_backend_pid())').catch((err: unknown) => {
      if (sqlState(err) !== ADMIN_SHUTDOWN && !/terminat|closed/i.test(String(err))) throw err;
    });
    return ready;
  } catch (err) {
    if (q.isTransactionActive) await q.rollbackTransaction().catch(() => undefined);
    throw err;
  } finally {
    await q.release().catch(() => undefined);
    await owner.destroy();
  }
}

/** What this session started with: its role and the settings a pooler gets from the role. */
async function sessionState(q: QueryRunner): Promise<Record<string, string>> {
  const rows = (await q.query(
    `SELECT name, setting FROM pg_settings WHERE name = ANY($1)
     UNION ALL SELECT 'role', current_user::text`,
    [Object.keys(sessionSettings({} as DatabaseSettings))],
  )) as Array<{ name: string; setting: string }>;
  return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
}

/**
 * Whether the session started as the role settings make it. TimeZone is left out: pgbouncer sets it on
 * every server connection it links to the value of its pool's first one (server parameters it tracks).
 */
function sameState(started: Record<string, string>, s: DatabaseSettings): boolean {
  const { TimeZone: _tz, ...settings } = sessionSettings(s);
  const want = { ...settings, role: s.appRole ?? s.user };
  return Object.entries(want).every(([k, v]) => started[k] === v);
}

async function usableAppRole(q: QueryRunner, s: DatabaseSettings): Promise<string | undefined> {
  if (!s.appRole) return undefined;
  const rows = (await q.query(
    `SELECT 1 FROM pg_roles WHERE rolname = $1 AND pg_has_role(current_user, oid, 'MEMBER')`,
    [s.appRole],
  )) as unknown[];
  if (rows.length > 0) return s.appRole;
  new Logger('Database').warn(
    `role ${s.appRole} does not exist or ${s.user} may not switch to it: working as ${s.user}`,
  );
  return undefined;
}

/**
 * The login role's settings in this database (read at the start of every new session, so the pooler's
 * next server connections get them; ones it already holds keep what they started with until it
 * recycles them). The login role may set its own defaults: no superuser needed.
 */
async function storeRoleSettings(q: QueryRunner, s: DatabaseSettings): Promise<void> {
  const target = `ALTER ROLE ${ident(s.user)} IN DATABASE ${ident(s.database)}`;
  for (const [name, value] of Object.entries(sessionSettings(s)))
    await q.query(`${target} SET ${name} = ${literal(value)}`);
  await q.query(s.appRole ? `${target} SET role = ${literal(s.appRole)}` : `${target} RESET role`);
}
