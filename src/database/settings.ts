import type { AppConfig } from '../config/app-config';
import type { DatabaseSettings } from './data-source-options';

export function databaseSettings(config: AppConfig): DatabaseSettings {
  const e = config.env;
  return {
    ...config.database,
    poolSize: e.DB_POOL_SIZE,
    connectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: e.DB_LOCK_TIMEOUT_MS,
    idleInTransactionTimeoutMs: e.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    applicationName: 'hfts',
    runMigrations: e.DB_RUN_MIGRATIONS,
    appRole: e.DB_APP_ROLE,
    pooler: e.DB_POOLER,
  };
}
