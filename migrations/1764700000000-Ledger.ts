import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The verifiable ledger (contract v1.2, issue 25): an RFC 9162 Merkle tree over the numbered events.
 *
 * - `ledger_nodes (level, idx, hash)`: the hash of every complete subtree, node (k, i) covering leaves
 *   [i*2^k, (i+1)*2^k); level 0 holds the leaf hashes (leaf n-1 = the event with sequence n). Any root and
 *   any proof is a fold over O(log n) of these rows (src/ledger/merkle.ts). The tree's size is the number of
 *   leaves, read from the primary key's end. The appender (src/ledger/ledger-appender.ts) writes the rows of
 *   a batch of leaves and the checkpoint that covers them in one transaction, so a crash leaves either all
 *   or none, and the next run starts from what is stored.
 * - `ledger_checkpoints`: every signed checkpoint, by tree size (a size is signed once).
 * - `ledger_signing_key`: the key generated at first start when LEDGER_SIGNING_KEY is unset, one row
 *   (inserted if absent, then read by every instance).
 *
 * Rows are never changed or removed (statement triggers; the service's role gets no UPDATE or DELETE):
 * a hash once written for a leaf stays its hash.
 */
export class Ledger1764700000000 implements MigrationInterface {
  name = 'Ledger1764700000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE ledger_nodes (
        level smallint NOT NULL CHECK (level BETWEEN 0 AND 62),
        idx bigint NOT NULL CHECK (idx >= 0),
        hash bytea NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
      )`);
    await q.query(`
      CREATE TABLE ledger_checkpoints (
        tree_size bigint PRIMARY KEY CHECK (tree_size >= 0),
        root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
        origin text NOT NULL,
        verifier_key text NOT NULL,
        note text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE ledger_signing_key (
        id int PRIMARY KEY CHECK (id = 1),
        signer_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    for (const table of ['ledger_nodes', 'ledger_checkpoints', 'ledger_signing_key']) {
      await q.query(`
        CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);
      await q.query(`
        CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);
    }
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT, INSERT ON ledger_nodes, ledger_checkpoints, ledger_signing_key TO hfts_app;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ledger_signing_key`);
    await q.query(`DROP TABLE ledger_checkpoints`);
    await q.query(`DROP TABLE ledger_nodes`);
  }
}
