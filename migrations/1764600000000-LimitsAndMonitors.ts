import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Contract v1.2: spending limits, overdraft and balance monitors, all enforced by the engine's one write.
 *
 * - `wallets.overdraft_limit`: the balance may go down to minus it. Lowering it below what a wallet owes is
 *   allowed (the contract says so), so a plain CHECK (balance >= -overdraft_limit) cannot hold; instead a
 *   trigger refuses any change that LOWERS a wallet's available money (balance - held) while leaving it
 *   below zero once the overdraft is counted. Every path (the engine, SQL behind the service's back) meets
 *   it; changing only the overdraft limit does not.
 * - `wallet_limits`: the limits an admin set, one row per window (`period`: WINDOW is reserved in SQL).
 * - `wallet_limit_usage`: what a wallet spent per calendar window, one row per (wallet, window, start), so
 *   checking a limit is one index probe per window, never a sum over history. Kept only for the windows a
 *   wallet has a limit on; PUT recomputes the current ones from history (wallet locked) when it sets them.
 * - `wallet_monitors`: balance monitors, with `met` kept by the write that crosses.
 *
 * Limits, usage and monitors are only changed with their wallet's row locked and its version bumped, so the
 * engine's version check on the wallets it writes guards them exactly like balances.
 */
export class LimitsAndMonitors1764600000000 implements MigrationInterface {
  name = 'LimitsAndMonitors1764600000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE wallets
        ADD COLUMN overdraft_limit numeric(18,4) NOT NULL DEFAULT 0,
        ADD CONSTRAINT wallets_overdraft_valid CHECK (overdraft_limit >= 0 AND overdraft_limit <> 'NaN'),
        DROP CONSTRAINT wallets_balance_valid,
        DROP CONSTRAINT wallets_held_valid,
        ADD CONSTRAINT wallets_balance_valid CHECK (balance <> 'NaN'),
        ADD CONSTRAINT wallets_held_valid CHECK (held >= 0 AND held <> 'NaN')`);
    // A statement's running balance may now be negative too (down to the overdraft, which the wallet guards).
    await q.query(`
      DO $$
      DECLARE c text;
      BEGIN
        FOR c IN SELECT conname FROM pg_constraint
                  WHERE conrelid = 'ledger_entries'::regclass AND contype = 'c'
                    AND pg_get_constraintdef(oid) LIKE '%balance_after >%' LOOP
          EXECUTE format('ALTER TABLE ledger_entries DROP CONSTRAINT %I', c);
        END LOOP;
      END $$`);
    await q.query(`
      ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_balance_after_check CHECK (balance_after <> 'NaN')`);
    await q.query(`
      CREATE OR REPLACE FUNCTION refuse_overdraft() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'wallets_balance_overdraft: wallet % would go past its overdraft limit (balance %, held %, overdraft %)',
          NEW.id, NEW.balance, NEW.held, NEW.overdraft_limit
          USING ERRCODE = 'check_violation', CONSTRAINT = 'wallets_balance_overdraft', TABLE = 'wallets';
      END $$`);
    // WHEN clauses: the function runs only on a refusal, so the common update pays one comparison.
    await q.query(`
      CREATE TRIGGER wallets_balance_overdraft BEFORE UPDATE ON wallets FOR EACH ROW
        WHEN (NEW.balance - NEW.held + NEW.overdraft_limit < 0
              AND NEW.balance - NEW.held < OLD.balance - OLD.held)
        EXECUTE FUNCTION refuse_overdraft()`);
    await q.query(`
      CREATE TRIGGER wallets_balance_overdraft_insert BEFORE INSERT ON wallets FOR EACH ROW
        WHEN (NEW.balance - NEW.held + NEW.overdraft_limit < 0)
        EXECUTE FUNCTION refuse_overdraft()`);

    await q.query(`
      CREATE TABLE wallet_limits (
        wallet_id uuid NOT NULL REFERENCES wallets (id),
        period varchar(16) NOT NULL CHECK (period IN ('PER_TRANSACTION', 'DAILY', 'WEEKLY', 'MONTHLY')),
        max_amount numeric(18,4) CHECK (max_amount >= 0 AND max_amount <> 'NaN'),
        max_count integer CHECK (max_count >= 0),
        CONSTRAINT wallet_limits_something CHECK (max_amount IS NOT NULL OR max_count IS NOT NULL),
        CONSTRAINT wallet_limits_per_transaction CHECK (period <> 'PER_TRANSACTION' OR max_count IS NULL),
        PRIMARY KEY (wallet_id, period)
      )`);
    await q.query(`
      CREATE TABLE wallet_limit_usage (
        wallet_id uuid NOT NULL REFERENCES wallets (id),
        period varchar(16) NOT NULL CHECK (period IN ('DAILY', 'WEEKLY', 'MONTHLY')),
        period_start timestamptz NOT NULL,
        used_amount numeric(18,4) NOT NULL CHECK (used_amount >= 0),
        used_count integer NOT NULL CHECK (used_count >= 0),
        PRIMARY KEY (wallet_id, period, period_start)
      )`);
    await q.query(`
      CREATE TABLE wallet_monitors (
        id uuid PRIMARY KEY,
        wallet_id uuid NOT NULL REFERENCES wallets (id),
        field varchar(20) NOT NULL CHECK (field IN ('balance', 'availableBalance')),
        operator varchar(3) NOT NULL CHECK (operator IN ('lt', 'lte', 'gt', 'gte')),
        value numeric(18,4) NOT NULL CHECK (value <> 'NaN'),
        description varchar(255),
        met boolean NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_triggered_at timestamptz
      )`);
    await q.query(`CREATE INDEX wallet_monitors_wallet ON wallet_monitors (wallet_id, created_at, id)`);

    // The events' type CHECK learns the monitor events (found by its text: its name was generated).
    await q.query(`
      DO $$
      DECLARE c text;
      BEGIN
        FOR c IN SELECT conname FROM pg_constraint
                  WHERE conrelid = 'events'::regclass AND contype = 'c'
                    AND pg_get_constraintdef(oid) LIKE '%transaction.completed%' LOOP
          EXECUTE format('ALTER TABLE events DROP CONSTRAINT %I', c);
        END LOOP;
      END $$`);
    await q.query(`
      ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN ('transaction.completed',
        'transaction.failed', 'hold.created', 'hold.captured', 'hold.voided', 'hold.expired', 'refund.completed',
        'user.status_changed', 'monitor.triggered', 'monitor.cleared'))`);

    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT, INSERT, DELETE ON wallet_limits TO hfts_app;
          GRANT SELECT, INSERT, UPDATE, DELETE ON wallet_limit_usage TO hfts_app;
          GRANT SELECT, INSERT, UPDATE, DELETE ON wallet_monitors TO hfts_app;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE events DROP CONSTRAINT events_type_check`);
    await q.query(`
      ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN ('transaction.completed',
        'transaction.failed', 'hold.created', 'hold.captured', 'hold.voided', 'hold.expired', 'refund.completed',
        'user.status_changed'))`);
    await q.query(`ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_balance_after_check`);
    await q.query(`
      ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_balance_after_check
        CHECK (balance_after >= 0 AND balance_after <> 'NaN')`);
    await q.query(`DROP TABLE wallet_monitors`);
    await q.query(`DROP TABLE wallet_limit_usage`);
    await q.query(`DROP TABLE wallet_limits`);
    await q.query(`DROP TRIGGER wallets_balance_overdraft_insert ON wallets`);
    await q.query(`DROP TRIGGER wallets_balance_overdraft ON wallets`);
    await q.query(`DROP FUNCTION refuse_overdraft()`);
    await q.query(`
      ALTER TABLE wallets
        DROP CONSTRAINT wallets_balance_valid,
        DROP CONSTRAINT wallets_held_valid,
        ADD CONSTRAINT wallets_balance_valid CHECK (balance >= 0 AND balance <> 'NaN'),
        ADD CONSTRAINT wallets_held_valid CHECK (held >= 0 AND held <> 'NaN' AND held <= balance),
        DROP CONSTRAINT wallets_overdraft_valid,
        DROP COLUMN overdraft_limit`);
  }
}
