import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Contract v1.1's ledger features: refunds (a REFUND transaction linked to its transfer, whose
 * refunded_amount grows and never passes its amount), metadata on every transaction (jsonb, with a per-wallet
 * index table so a statement filtered by metadata never scans the wallet's whole history), and an index for
 * point-in-time balances (the last ledger entry of a wallet at or before an instant: one probe).
 */
export class LedgerFeatures1764200000000 implements MigrationInterface {
  name = 'LedgerFeatures1764200000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE transactions
        ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        ADD COLUMN refunded_amount numeric(18, 4) NOT NULL DEFAULT 0,
        ADD COLUMN original_transaction_id uuid REFERENCES transactions (id),
        ADD CONSTRAINT transactions_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
        ADD CONSTRAINT transactions_refunded_valid CHECK (
          refunded_amount >= 0 AND refunded_amount <> 'NaN' AND refunded_amount <= amount
          AND (refunded_amount = 0 OR (type = 'TRANSFER' AND status = 'COMPLETED'))),
        ADD CONSTRAINT transactions_refund_link CHECK ((type = 'REFUND') = (original_transaction_id IS NOT NULL))`);
    await q.query(`ALTER TABLE transactions DROP CONSTRAINT transactions_type_check`);
    await q.query(`
      ALTER TABLE transactions ADD CONSTRAINT transactions_type_check
        CHECK (type IN ('TRANSFER', 'DEPOSIT', 'WITHDRAWAL', 'REFUND'))`);
    await q.query(`ALTER TABLE transactions DROP CONSTRAINT transactions_parties`);
    await q.query(`
      ALTER TABLE transactions ADD CONSTRAINT transactions_parties CHECK (
        (type IN ('TRANSFER', 'REFUND') AND source_wallet_id IS NOT NULL AND destination_wallet_id IS NOT NULL
           AND source_wallet_id <> destination_wallet_id)
        OR (type = 'DEPOSIT' AND source_wallet_id IS NULL AND destination_wallet_id IS NOT NULL)
        OR (type = 'WITHDRAWAL' AND source_wallet_id IS NOT NULL AND destination_wallet_id IS NULL))`);
    await q.query(
      `CREATE INDEX transactions_refunds ON transactions (original_transaction_id) WHERE original_transaction_id IS NOT NULL`,
    );

    // One row per (party wallet, metadata key) of a transaction, written with it by the engine: a statement
    // filtered by metadata.<key>=<value> reads only the matching rows of that wallet, newest first.
    await q.query(`
      CREATE TABLE transaction_metadata (
        wallet_id uuid NOT NULL REFERENCES wallets (id),
        key varchar(40) NOT NULL,
        value varchar(500) NOT NULL,
        seq bigint NOT NULL,
        transaction_id uuid NOT NULL REFERENCES transactions (id),
        PRIMARY KEY (wallet_id, key, value, seq)
      )`);
    await q.query(`
      CREATE TRIGGER transaction_metadata_append_only BEFORE UPDATE OR DELETE ON transaction_metadata
        FOR EACH ROW EXECUTE FUNCTION refuse_history_change()`);
    await q.query(`
      CREATE TRIGGER transaction_metadata_no_truncate BEFORE TRUNCATE ON transaction_metadata
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);

    // Point-in-time balance: the wallet's last entry at or before an instant is the first of this index.
    await q.query(
      `CREATE INDEX ledger_entries_wallet_time ON ledger_entries (wallet_id, created_at DESC, id DESC)`,
    );

    // A settled transaction still never changes, except a completed transfer's refunded_amount, which
    // only grows (the CHECK above keeps it within the amount). A pending one may only be settled.
    await q.query(`
      CREATE OR REPLACE FUNCTION guard_transaction_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.status <> 'PENDING' THEN
          IF OLD.status = 'COMPLETED' AND OLD.type = 'TRANSFER' AND NEW.refunded_amount > OLD.refunded_amount
             AND (to_jsonb(NEW) - 'refunded_amount') = (to_jsonb(OLD) - 'refunded_amount') THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'transaction % is settled (%): it cannot change', OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
        END IF;
        IF NEW.status NOT IN ('COMPLETED', 'FAILED') THEN
          RAISE EXCEPTION 'a pending transaction can only become COMPLETED or FAILED' USING ERRCODE = 'restrict_violation';
        END IF;
        IF (NEW.id, NEW.seq, NEW.type, NEW.source_wallet_id, NEW.destination_wallet_id, NEW.currency,
            NEW.held_amount, NEW.description, NEW.reference, NEW.initiated_by, NEW.hold_expires_at, NEW.created_at,
            NEW.metadata, NEW.refunded_amount, NEW.original_transaction_id)
           IS DISTINCT FROM
           (OLD.id, OLD.seq, OLD.type, OLD.source_wallet_id, OLD.destination_wallet_id, OLD.currency,
            OLD.held_amount, OLD.description, OLD.reference, OLD.initiated_by, OLD.hold_expires_at, OLD.created_at,
            OLD.metadata, OLD.refunded_amount, OLD.original_transaction_id)
           OR NEW.amount > OLD.amount THEN
          RAISE EXCEPTION 'only status, settled amount and settlement details of a pending transaction can change'
            USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
      END $$`);

    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT, INSERT ON transaction_metadata TO hfts_app;
          GRANT UPDATE (refunded_amount) ON transactions TO hfts_app;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION guard_transaction_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.status <> 'PENDING' THEN
          RAISE EXCEPTION 'transaction % is settled (%): it cannot change', OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
        END IF;
        IF NEW.status NOT IN ('COMPLETED', 'FAILED') THEN
          RAISE EXCEPTION 'a pending transaction can only become COMPLETED or FAILED' USING ERRCODE = 'restrict_violation';
        END IF;
        IF (NEW.id, NEW.seq, NEW.type, NEW.source_wallet_id, NEW.destination_wallet_id, NEW.currency,
            NEW.held_amount, NEW.description, NEW.reference, NEW.initiated_by, NEW.hold_expires_at, NEW.created_at)
           IS DISTINCT FROM
           (OLD.id, OLD.seq, OLD.type, OLD.source_wallet_id, OLD.destination_wallet_id, OLD.currency,
            OLD.held_amount, OLD.description, OLD.reference, OLD.initiated_by, OLD.hold_expires_at, OLD.created_at)
           OR NEW.amount > OLD.amount THEN
          RAISE EXCEPTION 'only status, settled amount and settlement details of a pending transaction can change'
            USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`DROP TABLE transaction_metadata`);
    await q.query(`DROP INDEX ledger_entries_wallet_time`);
    await q.query(`DROP INDEX transactions_refunds`);
    await q.query(`ALTER TABLE transactions DROP CONSTRAINT transactions_parties`);
    await q.query(`
      ALTER TABLE transactions ADD CONSTRAINT transactions_parties CHECK (
        (type = 'TRANSFER' AND source_wallet_id IS NOT NULL AND destination_wallet_id IS NOT NULL
           AND source_wallet_id <> destination_wallet_id)
        OR (type = 'DEPOSIT' AND source_wallet_id IS NULL AND destination_wallet_id IS NOT NULL)
        OR (type = 'WITHDRAWAL' AND source_wallet_id IS NOT NULL AND destination_wallet_id IS NULL))`);
    await q.query(`ALTER TABLE transactions DROP CONSTRAINT transactions_type_check`);
    await q.query(`
      ALTER TABLE transactions ADD CONSTRAINT transactions_type_check
        CHECK (type IN ('TRANSFER', 'DEPOSIT', 'WITHDRAWAL'))`);
    await q.query(`
      ALTER TABLE transactions DROP COLUMN original_transaction_id, DROP COLUMN refunded_amount,
        DROP COLUMN metadata`);
  }
}
