import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks of accounts that are not ACTIVE receive nothing (issue 21, item 2; docs/WEBHOOKS.md).
 *
 * - `webhook_paused_owners`: the users who, at the webhook cursor's point of the event stream, are not
 *   ACTIVE. The fan-out (WebhookJobs.fanOut) reads it, applies the `user.status_changed` events of each
 *   batch in sequence order and writes it back, so whether an endpoint gets an event depends on its owner's
 *   status at that event's place in the stream, not on when the dispatcher happened to get to it.
 * - A trigger on `users`: when an account leaves ACTIVE, its endpoints' pending jobs are CANCELLED in the
 *   same transaction as the change, so nothing queued before is sent once the change is answered (an
 *   attempt already on the wire may still arrive, as after a deletion). The rare status change pays for it.
 */
export class WebhookOwnerStatus1764800000000 implements MigrationInterface {
  name = 'WebhookOwnerStatus1764800000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE webhook_paused_owners (user_id uuid PRIMARY KEY REFERENCES users (id))`);
    await q.query(
      `INSERT INTO webhook_paused_owners (user_id) SELECT id FROM users WHERE status <> 'ACTIVE'`,
    );
    await q.query(`
      CREATE FUNCTION webhooks_cancel_on_inactive() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE webhook_deliveries SET state = 'CANCELLED', lease_until = NULL
         WHERE state = 'PENDING'
           AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE user_id = NEW.id);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER users_webhooks_cancel_on_inactive AFTER UPDATE OF status ON users
        FOR EACH ROW WHEN (OLD.status = 'ACTIVE' AND NEW.status <> 'ACTIVE')
        EXECUTE FUNCTION webhooks_cancel_on_inactive()`);
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT, INSERT, DELETE ON webhook_paused_owners TO hfts_app;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER users_webhooks_cancel_on_inactive ON users`);
    await q.query(`DROP FUNCTION webhooks_cancel_on_inactive()`);
    await q.query(`DROP TABLE webhook_paused_owners`);
  }
}
