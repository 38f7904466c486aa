import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks (src/webhooks): the endpoints users register, one delivery job per (endpoint, event), the log of
 * every attempt, and the dispatcher's cursor into `events` (it reads only sequenced rows, by `sequence`).
 *
 * A job is due when `state = 'PENDING' AND next_attempt_at <= now()` and not leased: an instance claims it by
 * setting `lease_until` (longer than the request time-out) under FOR UPDATE SKIP LOCKED, so instances never
 * take the same job, and a job whose instance died is due again when the lease runs out. Deleting an
 * endpoint is soft (its log stays readable to nobody, its secret is wiped) and cancels its pending jobs.
 * Settled jobs and their attempts are kept 30 days (the dispatcher prunes them), so the tables do not
 * grow without end. `event_id` has no foreign key: events are immutable and never deleted, and this migration must not
 * depend on the events migration's order.
 */
export class Webhooks1764400000200 implements MigrationInterface {
  name = 'Webhooks1764400000200';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_endpoints (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id),
        url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
        -- NULL: every type, including types added later.
        event_types text[] NULL CHECK (event_types IS NULL OR cardinality(event_types) > 0),
        -- NULL once deleted: a deleted endpoint's secret is not kept.
        secret text NULL CHECK (secret IS NULL OR secret LIKE 'whsec\\_%'),
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz NULL,
        CHECK ((deleted_at IS NULL) = (secret IS NOT NULL))
      )`);
    await q.query(
      `CREATE INDEX webhook_endpoints_user ON webhook_endpoints (user_id) WHERE deleted_at IS NULL`,
    );

    await q.query(`
      CREATE TABLE webhook_deliveries (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
        event_id uuid NOT NULL,
        event_sequence bigint NOT NULL,
        state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
        attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        -- At most one job per event and endpoint, whatever instance fans out and however often.
        UNIQUE (endpoint_id, event_id)
      )`);
    await q.query(
      `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'PENDING'`,
    );
    // An endpoint's oldest due job (the claim's probe, one per endpoint).
    await q.query(
      `CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE state = 'PENDING'`,
    );
    await q.query(
      `CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id) WHERE state = 'PENDING' AND lease_until IS NOT NULL`,
    );

    await q.query(`
      CREATE TABLE webhook_attempts (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id),
        endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
        event_id uuid NOT NULL,
        attempt integer NOT NULL CHECK (attempt >= 1),
        status text NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED')),
        -- NULL when nothing answered (refused connection, time-out, address refused).
        response_status integer NULL CHECK (response_status BETWEEN 100 AND 599),
        error text NULL,
        at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id)`);
    // Retention (WebhookJobs.prune): settled jobs past the retention, and their attempts.
    await q.query(
      `CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (created_at) WHERE state <> 'PENDING'`,
    );
    await q.query(`CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id)`);

    // The fan-out sends every event to the admins' endpoints: find the admins without a scan of users
    // (200k users, 500 events: 61 ms to 3.4 ms per fan-out).
    await q.query(`CREATE INDEX users_admins ON users (id) WHERE role = 'ADMIN'`);

    // One row: the last event sequence fanned out into jobs. Locked (FOR UPDATE SKIP LOCKED) by the instance
    // that fans out, so instances never fan out the same range at once.
    await q.query(`
      CREATE TABLE webhook_cursor (
        id smallint PRIMARY KEY CHECK (id = 1),
        last_sequence bigint NOT NULL CHECK (last_sequence >= 0)
      )`);
    await q.query(`INSERT INTO webhook_cursor (id, last_sequence) VALUES (1, 0)`);

    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT, INSERT, UPDATE ON webhook_endpoints TO hfts_app;
          -- DELETE only for the retention of settled jobs and their log.
          GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO hfts_app;
          GRANT SELECT, INSERT, DELETE ON webhook_attempts TO hfts_app;
          GRANT SELECT, UPDATE ON webhook_cursor TO hfts_app;
          IF to_regclass('public.events') IS NOT NULL THEN
            GRANT SELECT ON events TO hfts_app;
          END IF;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX users_admins`);
    await q.query(`DROP TABLE webhook_cursor`);
    await q.query(`DROP TABLE webhook_attempts`);
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_endpoints`);
  }
}
