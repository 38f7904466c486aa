import { Pool } from 'pg';
import type { DatabaseTarget } from '../../src/config/app-config';
import { queryKeepingConnection } from '../../src/database/pools';
import { createTestDatabase, dropTestDatabase } from '../support/database';

/**
 * The engine's statements keep their connection when the server refuses one of them (its write conflicts
 * are raised on purpose): pg-pool's own `query` closes the connection after any error, which made every
 * conflict pay for a new backend and its prepared statements.
 */
describe('queryKeepingConnection', () => {
  let target: DatabaseTarget;
  let pool: Pool;

  beforeAll(async () => {
    target = await createTestDatabase();
    pool = new Pool({ ...target, max: 1 });
  });
  afterAll(async () => {
    await pool.end();
    await dropTestDatabase(target.database);
  });

  const pid = async () =>
    (await queryKeepingConnection<{ pid: number }>(pool, { text: 'SELECT pg_backend_pid() AS pid' })).rows[0]
      .pid;

  it('keeps the connection after a statement the server refused (serialization failure, division by zero)', async () => {
    const before = await pid();
    await expect(
      queryKeepingConnection(pool, {
        text: `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`,
      }),
    ).rejects.toMatchObject({ code: '40001' });
    await expect(queryKeepingConnection(pool, { text: 'SELECT 1/0' })).rejects.toMatchObject({
      code: '22012',
    });
    expect(await pid()).toBe(before);
    expect(pool.totalCount).toBe(1);
  });

  it('closes it when the server ends the session (57P01), as pg-pool does after any error', async () => {
    const before = await pid();
    await expect(
      queryKeepingConnection(pool, { text: 'SELECT pg_terminate_backend(pg_backend_pid())' }),
    ).rejects.toMatchObject({ code: '57P01' });
    expect(await pid()).not.toBe(before);
  });

  // The fault suite (connections.spec.ts) is what catches a missing 'error' listener: there the socket's end
  // can come in the same read as the FATAL message, before the await resumes; here it mostly does not.
  it('gives up a connection whose session was ended from outside mid-statement', async () => {
    const before = await pid();
    const running = queryKeepingConnection(pool, { text: 'SELECT pg_sleep(10)' }).catch(
      (err: unknown) => err,
    );
    const other = new Pool({ ...target, max: 1 });
    try {
      // Wait until the statement is running, then end its session as an operator or a failover would.
      for (let i = 0; i < 50; i++) {
        const { rows } = await other.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%'`,
          [before],
        );
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await other.query('SELECT pg_terminate_backend($1)', [before]);
    } finally {
      await other.end();
    }
    expect(await running).toMatchObject({ code: '57P01' });
    // Let the socket's end and error events arrive: without a listener they would end this process.
    await new Promise((r) => setTimeout(r, 300));
    expect(await pid()).not.toBe(before);
  });

  it('pg-pool query itself replaces the connection after a refused statement (why the helper exists)', async () => {
    const before = await pid();
    await expect(pool.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    expect(await pid()).not.toBe(before);
  });
});
