import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The role the service works as (DB_APP_ROLE, default hfts_app): it may read and append history but never
 * rewrite it. Migrations run as the login role, which owns the tables; the service then switches every pooled
 * connection to hfts_app (`-c role=hfts_app`), so even a bug or an injected statement in the service cannot
 * UPDATE or DELETE a ledger entry or a settled amount: PostgreSQL refuses it with 42501 before the
 * append-only triggers are reached.
 *
 * Roles belong to the whole server. Where the login role may not create roles (some managed services),
 * the migration leaves a notice and the service keeps working as the login role, protected by the triggers.
 */
export class AppRole1764100000000 implements MigrationInterface {
  name = 'AppRole1764100000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          BEGIN
            CREATE ROLE hfts_app NOLOGIN;
          EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another database's migration
            WHEN insufficient_privilege THEN
              RAISE NOTICE 'role hfts_app not created (no CREATEROLE): the service will run as %', current_user;
              RETURN;
          END;
        END IF;
        GRANT USAGE ON SCHEMA public TO hfts_app;
        GRANT SELECT ON schema_migrations TO hfts_app;
        GRANT SELECT, INSERT, UPDATE ON users, wallets TO hfts_app;
        -- History: read and append; a transaction may only be settled (the trigger allows that once).
        GRANT SELECT, INSERT ON transactions, ledger_entries, idempotency_keys TO hfts_app;
        GRANT UPDATE (status, amount, failure_reason, completed_at) ON transactions TO hfts_app;
        IF NOT pg_has_role(current_user, 'hfts_app', 'MEMBER') THEN
          EXECUTE format('GRANT hfts_app TO %I', current_user);
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          REVOKE ALL ON users, wallets, transactions, ledger_entries, idempotency_keys, schema_migrations FROM hfts_app;
          REVOKE USAGE ON SCHEMA public FROM hfts_app;
        END IF;
      END $$`);
  }
}
