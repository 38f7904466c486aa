import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseTarget } from '../config/app-config';
import { parseHostList, primaryClientClass } from './primary-host';

export interface DatabaseSettings extends DatabaseTarget {
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
  applicationName: string;
  runMigrations: boolean;
  /** Role every pooled connection switches to at start-up (`-c role=`); undefined: the login role. */
  appRole?: string;
  /** DB_POOLER: 'none' (or unset) sends the settings as startup options; behind a pooler, the role holds them. */
  pooler?: 'none' | 'session' | 'transaction';
}

/** The per-session settings every connection of the service works with, as `name: value`. */
export function sessionSettings(s: DatabaseSettings): Record<string, string> {
  return {
    statement_timeout: String(s.statementTimeoutMs),
    lock_timeout: String(s.lockTimeoutMs),
    idle_in_transaction_session_timeout: String(s.idleInTransactionTimeoutMs),
    TimeZone: 'UTC',
    // The engine's named prepared statements (engine.repository.ts) would otherwise switch to a generic
    // plan after five executions, planned for the table sizes of that moment: on a new deployment the
    // tables are empty then, and the cached plan keeps reading transactions, idempotency_keys and users
    // by sequential scan as they grow (until an autovacuum ANALYZE happens to invalidate it). A custom
    // plan is made for each execution, with the actual parameters and table sizes, so an index is used
    // once a table is large, whatever the statistics said when the statement was prepared. Planning each
    // time costs some server CPU, less than one sequential scan of a table of a few thousand rows; and
    // no statement shape is safe on its own (a key lookup on a tiny table is planned as a sequential
    // scan, correctly, and a generic plan keeps it). Unnamed statements (TypeORM's) are planned per
    // execution anyway. plans.spec.ts fails without this.
    plan_cache_mode: 'force_custom_plan',
    // The default (4) prices a random page read four times a sequential one, as on a disk; the service's
    // working set (users, wallets, recent keys and transactions) is in memory, where an index probe costs
    // about as much as the next page of a scan. With 4, a batched write checking 30 wallets' owners hashed
    // every ACTIVE user by a sequential scan of users (10,000 rows) rather than make 30 index probes.
    random_page_cost: '1.1',
  };
}

/**
 * The one place that builds TypeORM options: used by the app, by ormconfig.ts (the CLI) and by the tests.
 * Entities are registered by each module (autoLoadEntities) in the app; the CLI and tests list them by glob.
 */
export function buildDataSourceOptions(s: DatabaseSettings): DataSourceOptions {
  const root = join(__dirname, '..', '..');
  // POSTGRES_HOST may list several servers: pg connects to the one that is primary (primary-host.ts).
  const hosts = parseHostList(s.host, s.port);
  return {
    type: 'postgres',
    host: hosts[0]?.host ?? s.host,
    port: hosts[0]?.port ?? s.port,
    username: s.user,
    password: s.password,
    database: s.database,
    applicationName: s.applicationName,
    synchronize: false,
    migrationsRun: s.runMigrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    entities: [join(root, 'src', '**', '*.entity.{ts,js}')],
    migrations: [join(root, 'migrations', '*.{ts,js}')],
    poolSize: s.poolSize,
    connectTimeoutMS: s.connectTimeoutMs,
    extra: {
      max: s.poolSize,
      connectionTimeoutMillis: s.connectTimeoutMs,
      idleTimeoutMillis: 30000,
      // Server-side guards, set per connection at start-up: no statement, lock wait or idle open
      // transaction can hold a pooled connection forever. pgbouncer refuses startup options: behind it,
      // prepareDatabase stores the same settings (and the role switch) on the login role instead.
      options:
        (s.pooler ?? 'none') === 'none'
          ? [
              ...Object.entries(sessionSettings(s)).map(([k, v]) => `-c ${k}=${v}`),
              // none: the login role even where a pooler's role setting switches its sessions.
              `-c role=${s.appRole ?? 'none'}`,
            ].join(' ')
          : undefined,
      keepAlive: true,
      ...(hosts.length > 1
        ? {
            Client: primaryClientClass(hosts, {
              user: s.user,
              password: s.password,
              database: s.database,
              connectTimeoutMs: s.connectTimeoutMs,
            }),
          }
        : {}),
    },
  };
}
