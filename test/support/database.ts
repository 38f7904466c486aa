import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { DatabaseTarget } from '../../src/config/app-config';
import { assertTestDatabaseName, testServer } from './test-env';

/** A fresh database for one test file, cloned from the migrated template (fast: a file copy). */
export async function createTestDatabase(): Promise<DatabaseTarget> {
  const server = testServer();
  const suffix = server.template.replace('hfts_test_tpl_', '');
  const name = `hfts_test_${suffix}_${randomBytes(4).toString('hex')}`;
  assertTestDatabaseName(name);
  const admin = new Client({ ...server, database: 'postgres' });
  await admin.connect();
  try {
    // CREATE DATABASE ... TEMPLATE fails while another session copies the same template: retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${server.template}`);
        break;
      } catch (err) {
        if (attempt > 50 || !/being accessed by other users/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  const { template: _t, ...target } = server;
  return { ...target, database: name };
}

export async function dropTestDatabase(name: string): Promise<void> {
  assertTestDatabaseName(name);
  const server = testServer();
  const admin = new Client({ ...server, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** A plain pg client on a test database, for assertions that read the tables directly. */
export async function connect(target: DatabaseTarget): Promise<Client> {
  assertTestDatabaseName(target.database);
  const client = new Client(target);
  await client.connect();
  return client;
}
