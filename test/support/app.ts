import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Client } from 'pg';
import { createApp } from '../../src/bootstrap/create-app';
import { type AppConfig, type DatabaseTarget, loadConfig } from '../../src/config/app-config';
import { connect, createTestDatabase, dropTestDatabase } from './database';

export const TEST_SECRET = 'test-secret-key-that-is-long-enough-0123456789';

export interface TestApp {
  app: NestFastifyApplication;
  /** The Node http.Server, for supertest. */
  server: ReturnType<NestFastifyApplication['getHttpServer']>;
  config: AppConfig;
  db: DatabaseTarget;
  /** A direct connection to the same database, for assertions. */
  sql: Client;
  close(): Promise<void>;
}

/**
 * Boots the real application (same module, pipes, filters and guards as production) on a fresh
 * database of its own. `env` overrides the test defaults.
 */
export async function startTestApp(env: Record<string, string> = {}, db?: DatabaseTarget): Promise<TestApp> {
  const ownDb = !db;
  const target = db ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SECRET_KEY: TEST_SECRET,
    BCRYPT_COST: '10',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    RATE_LIMIT_USER_PER_SECOND: '0',
    DB_RUN_MIGRATIONS: 'false',
    DB_POOL_SIZE: '10',
    POSTGRES_HOST: target.host,
    POSTGRES_PORT: String(target.port),
    POSTGRES_USER: target.user,
    POSTGRES_PASSWORD: target.password,
    POSTGRES_DB: target.database,
    ...env,
    // test/scaling/pgbouncer-money.spec.ts runs the money suites with the app behind its pgbouncer.
    ...(process.env.HFTS_TEST_PGBOUNCER_PORT
      ? {
          POSTGRES_HOST: '127.0.0.1',
          POSTGRES_PORT: process.env.HFTS_TEST_PGBOUNCER_PORT,
          DB_POOLER: 'transaction',
        }
      : {}),
  });
  const app = await createApp(config, { bufferLogs: false });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const sql = await connect(target);
  return {
    app,
    server: app.getHttpServer(),
    config,
    db: target,
    sql,
    close: async () => {
      await sql.end();
      await app.close();
      if (ownDb) await dropTestDatabase(target.database);
    },
  };
}
