import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Users, wallets, transactions, ledger entries and idempotency records.
 * The database is the last line of defence: CHECK constraints keep balances and amounts sane even for a
 * buggy caller, and triggers make history append-only (ledger entries never change; a transaction
 * changes once, from PENDING to COMPLETED or FAILED).
 */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email varchar(254) NOT NULL,
        password_hash varchar(100) NOT NULL,
        full_name varchar(200) NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'CLOSED')),
        role varchar(16) NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMIN')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        -- stored normalised, so a plain unique index is case-insensitive
        CONSTRAINT users_email_normalised CHECK (email = lower(btrim(email)))
      )`);
    await q.query(`CREATE UNIQUE INDEX users_email_key ON users (email)`);

    await q.query(`
      CREATE TABLE wallets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id),
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        balance numeric(18, 4) NOT NULL DEFAULT 0,
        held numeric(18, 4) NOT NULL DEFAULT 0,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT wallets_user_key UNIQUE (user_id),
        CONSTRAINT wallets_balance_valid CHECK (balance >= 0 AND balance <> 'NaN'),
        -- open holds never exceed the balance: availableBalance = balance - held is never negative
        CONSTRAINT wallets_held_valid CHECK (held >= 0 AND held <> 'NaN' AND held <= balance)
      )`);

    await q.query(`
      CREATE TABLE transactions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        type varchar(16) NOT NULL CHECK (type IN ('TRANSFER', 'DEPOSIT', 'WITHDRAWAL')),
        status varchar(16) NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
        source_wallet_id uuid REFERENCES wallets (id),
        destination_wallet_id uuid REFERENCES wallets (id),
        amount numeric(18, 4) NOT NULL CHECK (amount > 0 AND amount <> 'NaN'),
        held_amount numeric(18, 4) CHECK (held_amount > 0 AND held_amount <> 'NaN'),
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        description varchar(500),
        reference varchar(255),
        failure_reason varchar(64),
        initiated_by uuid REFERENCES users (id),
        hold_expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        CONSTRAINT transactions_seq_key UNIQUE (seq),
        CONSTRAINT transactions_parties CHECK (
          (type = 'TRANSFER' AND source_wallet_id IS NOT NULL AND destination_wallet_id IS NOT NULL
             AND source_wallet_id <> destination_wallet_id)
          OR (type = 'DEPOSIT' AND source_wallet_id IS NULL AND destination_wallet_id IS NOT NULL)
          OR (type = 'WITHDRAWAL' AND source_wallet_id IS NOT NULL AND destination_wallet_id IS NULL)),
        CONSTRAINT transactions_hold_shape CHECK (
          (held_amount IS NULL AND hold_expires_at IS NULL)
          OR (type = 'TRANSFER' AND held_amount IS NOT NULL AND hold_expires_at IS NOT NULL AND amount <= held_amount)),
        CONSTRAINT transactions_settled_shape CHECK (
          (status = 'PENDING' AND completed_at IS NULL AND failure_reason IS NULL)
          OR (status = 'COMPLETED' AND completed_at IS NOT NULL AND failure_reason IS NULL)
          OR (status = 'FAILED' AND failure_reason IS NOT NULL)),
        CONSTRAINT transactions_pending_is_hold CHECK (status <> 'PENDING' OR held_amount IS NOT NULL)
      )`);
    // History of one wallet, newest first, by keyset on seq: one index per side of a movement.
    await q.query(
      `CREATE INDEX transactions_source_history ON transactions (source_wallet_id, seq DESC) WHERE source_wallet_id IS NOT NULL`,
    );
    await q.query(
      `CREATE INDEX transactions_destination_history ON transactions (destination_wallet_id, seq DESC) WHERE destination_wallet_id IS NOT NULL`,
    );
    // The expiry job's scan of open holds.
    await q.query(
      `CREATE INDEX transactions_open_holds ON transactions (hold_expires_at) WHERE status = 'PENDING'`,
    );

    await q.query(`
      CREATE TABLE ledger_entries (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        wallet_id uuid NOT NULL REFERENCES wallets (id),
        transaction_id uuid NOT NULL REFERENCES transactions (id),
        amount numeric(18, 4) NOT NULL CHECK (amount <> 0 AND amount <> 'NaN'),
        balance_after numeric(18, 4) NOT NULL CHECK (balance_after >= 0 AND balance_after <> 'NaN'),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ledger_entries_once UNIQUE (transaction_id, wallet_id)
      )`);
    await q.query(`CREATE INDEX ledger_entries_wallet_statement ON ledger_entries (wallet_id, id DESC)`);

    await q.query(`
      CREATE TABLE idempotency_keys (
        user_id uuid NOT NULL REFERENCES users (id),
        key varchar(255) NOT NULL,
        request_hash char(64) NOT NULL,
        status_code smallint NOT NULL,
        response json NOT NULL,
        transaction_id uuid REFERENCES transactions (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key)
      )`);
    await q.query(`CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)`);

    // Raised inside the transfer engine's single-statement writes when a version check fails, so that
    // the whole statement (every wallet update and insert in it) is rolled back and retried.
    await q.query(`
      CREATE FUNCTION hfts_write_conflict() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        RAISE EXCEPTION 'wallet version conflict' USING ERRCODE = 'serialization_failure';
      END $$`);

    // History is append-only, enforced by the database itself.
    await q.query(`
      CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
      END $$`);
    await q.query(`
      CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION refuse_history_change()`);
    await q.query(`
      CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);
    await q.query(`
      CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
        FOR EACH ROW EXECUTE FUNCTION refuse_history_change()`);
    await q.query(`
      CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);
    await q.query(`
      CREATE FUNCTION guard_transaction_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    await q.query(`
      CREATE TRIGGER transactions_settle_once BEFORE UPDATE ON transactions
        FOR EACH ROW EXECUTE FUNCTION guard_transaction_update()`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP TABLE ledger_entries`);
    await q.query(`DROP TABLE transactions`);
    await q.query(`DROP FUNCTION guard_transaction_update()`);
    await q.query(`DROP FUNCTION refuse_history_change()`);
    await q.query(`DROP FUNCTION hfts_write_conflict()`);
    await q.query(`DROP TABLE wallets`);
    await q.query(`DROP TABLE users`);
  }
}
