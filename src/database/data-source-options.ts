import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseTarget } from '../config/app-config';

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
}

/**
 * The one place that builds TypeORM options: used by the app, by ormconfig.ts (the CLI) and by the tests.
 * Entities are registered by each module (autoLoadEntities) in the app; the CLI and tests list them by glob.
 */
export function buildDataSourceOptions(s: DatabaseSettings): DataSourceOptions {
  const root = join(__dirname, '..', '..');
  return {
    type: 'postgres',
    host: s.host,
    port: s.port,
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
      // transaction can hold a pooled connection forever.
      options: [
        `-c statement_timeout=${s.statementTimeoutMs}`,
        `-c lock_timeout=${s.lockTimeoutMs}`,
        `-c idle_in_transaction_session_timeout=${s.idleInTransactionTimeoutMs}`,
        '-c TimeZone=UTC',
        ...(s.appRole ? [`-c role=${s.appRole}`] : []),
      ].join(' '),
      keepAlive: true,
    },
  };
}
