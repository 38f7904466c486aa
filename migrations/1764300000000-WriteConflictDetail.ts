import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Raised by the engine's write when a check fails, so the statement rolls back instead of committing an empty
 * change: a commit of a statement that took row locks waits for its WAL flush with the locks held, and under
 * contention every failed attempt then held the hot wallets for an fsync. SQLSTATE 40001 with the constraint
 * name `hfts_write_conflict` tells it apart from other serialization failures; DETAIL carries which check
 * failed and which wallets moved (`version:<id>,<id>`), so only the movements that depend on them run again.
 */
export class WriteConflictDetail1764300000000 implements MigrationInterface {
  name = 'WriteConflictDetail1764300000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION hfts_write_conflict(reason text, wallet_ids text[]) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        RAISE EXCEPTION 'engine write conflict (%)', reason
          USING ERRCODE = 'serialization_failure', CONSTRAINT = 'hfts_write_conflict',
                DETAIL = reason || ':' || coalesce(array_to_string(wallet_ids, ','), '');
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION hfts_write_conflict(text, text[])`);
  }
}
