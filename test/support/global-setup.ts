import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { startEmbeddedDatabase } from '../../src/bootstrap/embedded-database';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { assertTestDatabaseName } from './test-env';

/**
 * Once per run (not for the unit suite alone): a PostgreSQL server (embedded when POSTGRES_HOST is unset, else that server), and a
 * template database migrated once. Every test file then clones its own database from the template.
 */
export default async function globalSetup(): Promise<void> {
  // Each project that needs a database names this set-up (jest.config.js): the first one prepares it.
  if (process.env.HFTS_TEST_TEMPLATE) return;
  const g = globalThis as { __hftsEmbedded?: { stop(): Promise<void> } };
  if (!process.env.POSTGRES_HOST) {
    const dir = mkdtempSync(join(tmpdir(), 'hfts-test-pg-'));
    const embedded = await startEmbeddedDatabase({
      dataDir: join(dir, 'data'),
      database: 'postgres',
      persistent: false,
    });
    g.__hftsEmbedded = embedded;
    process.env.POSTGRES_HOST = embedded.target.host;
    process.env.POSTGRES_PORT = String(embedded.target.port);
    process.env.POSTGRES_USER = embedded.target.user;
    process.env.POSTGRES_PASSWORD = embedded.target.password;
  }
  const server = {
    host: process.env.POSTGRES_HOST,
    port: Number(process.env.POSTGRES_PORT ?? 5432),
    user: process.env.POSTGRES_USER ?? 'postgres',
    password: process.env.POSTGRES_PASSWORD ?? '',
  };
  const template = `hfts_test_tpl_${process.pid}_${Date.now().toString(36)}`;
  assertTestDatabaseName(template);
  const admin = new Client({ ...server, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();

  const ds = new DataSource({
    ...buildDataSourceOptions({
      ...server,
      host: server.host ?? '127.0.0.1',
      database: template,
      poolSize: 2,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 60000,
      lockTimeoutMs: 10000,
      idleInTransactionTimeoutMs: 60000,
      applicationName: 'hfts-test-setup',
      runMigrations: false,
    }),
    entities: [],
  });
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  await ds.destroy();
  process.env.HFTS_TEST_TEMPLATE = template;
}
