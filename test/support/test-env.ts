import type { DatabaseTarget } from '../../src/config/app-config';

/** Set by the global set-up, read by every test file: the server and the migrated template database. */
export function testServer(): Omit<DatabaseTarget, 'database'> & { template: string } {
  const { POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, HFTS_TEST_TEMPLATE } = process.env;
  if (!POSTGRES_HOST || !HFTS_TEST_TEMPLATE)
    throw new Error('test database not prepared: run through jest (global set-up)');
  return {
    host: POSTGRES_HOST,
    port: Number(POSTGRES_PORT ?? 5432),
    user: POSTGRES_USER ?? 'postgres',
    password: POSTGRES_PASSWORD ?? '',
    template: HFTS_TEST_TEMPLATE,
  };
}

/** The test set-up refuses to touch any database whose name does not say it is a test one. */
export function assertTestDatabaseName(name: string): void {
  if (!/^hfts_test_[a-z0-9_]+$/.test(name)) {
    throw new Error(`refusing to use database "${name}": test databases are named hfts_test_*`);
  }
}
