import { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/app-config';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { OutboxSignal } from '../../src/events/outbox-signal';
import { EngineRepository } from '../../src/transfers/engine/engine.repository';
import { engineStoreContract } from '../support/engine-store.contract';
import { connect, createTestDatabase, dropTestDatabase } from '../support/database';

// The PostgreSQL store (the engine's statements on a real database) against the engine store's contract;
// the same suite runs on the in-memory store in test/unit/memory-store.contract.spec.ts.
engineStoreContract('PostgreSQL', async () => {
  const target = await createTestDatabase();
  const dataSource = new DataSource({
    ...buildDataSourceOptions({
      ...target,
      poolSize: 4,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 30000,
      lockTimeoutMs: 10000,
      idleInTransactionTimeoutMs: 30000,
      applicationName: 'hfts-store-contract',
      runMigrations: false,
    }),
    entities: [],
  });
  await dataSource.initialize();
  const sql = await connect(target);
  const store = new EngineRepository(dataSource, loadConfig({ NODE_ENV: 'test' }), new OutboxSignal());
  return {
    store,
    addUser: async (id, role = 'USER') => {
      await sql.query(
        `INSERT INTO users (id, email, password_hash, full_name, role) VALUES ($1, $2, 'x', 'Contract', $3)`,
        [id, `${id}@example.com`, role],
      );
    },
    addWallet: async (id, userId, currency) => {
      await sql.query(`INSERT INTO wallets (id, user_id, currency) VALUES ($1, $2, $3)`, [
        id,
        userId,
        currency,
      ]);
    },
    setUserStatus: async (id, status) => {
      await sql.query(`UPDATE users SET status = $2 WHERE id = $1`, [id, status]);
    },
    counts: async () => {
      const { rows } = await sql.query<{ ledger: number; events: number }>(
        `SELECT (SELECT count(*)::int FROM ledger_entries) AS ledger, (SELECT count(*)::int FROM events) AS events`,
      );
      return rows[0];
    },
    lockWaiters: async () => {
      const { rows } = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      return rows[0].n;
    },
    close: async () => {
      await sql.end();
      await dataSource.destroy();
      await dropTestDatabase(target.database);
    },
  };
});
