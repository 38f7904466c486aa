import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The outbox (contract v1.1 "Events and webhooks"). The engine's write statement inserts a money change's
 * events in the same statement as the change, and a status change inserts its event in the same transaction:
 * no event without its change, no change without its event.
 *
 * `sequence` is NULL at insert and set once, after commit, by the sequencer (src/events/event-sequencer.ts),
 * which runs on one instance at a time and numbers the committed events it finds after the highest number
 * given so far. An id or serial taken at insert is not commit order (a transaction that took 7 may commit
 * after the one that took 8 and a reader paging by it would miss 7); numbers given after commit, by one
 * writer at a time, are: every event numbered later committed before it was numbered, so a reader that
 * has seen sequence N never later meets a new event below N.
 *
 * Events are immutable: the only change allowed is giving `sequence` its value, once.
 */
export class Events1764400000000 implements MigrationInterface {
  name = 'Events1764400000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE events (
        id uuid PRIMARY KEY,
        type varchar(40) NOT NULL CHECK (type IN ('transaction.completed', 'transaction.failed',
          'hold.created', 'hold.captured', 'hold.voided', 'hold.expired', 'refund.completed',
          'user.status_changed')),
        sequence bigint UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        wallet_ids uuid[] NOT NULL,
        user_ids uuid[] NOT NULL,
        data jsonb NOT NULL
      )`);
    // The sequencer's work list: committed events without a number yet, in the order they were written.
    await q.query(`CREATE INDEX events_unsequenced ON events (created_at, id) WHERE sequence IS NULL`);
    // A user's events (GET /events, their webhooks): the rows whose user_ids hold the user.
    await q.query(`CREATE INDEX events_user_ids ON events USING gin (user_ids)`);
    await q.query(`
      CREATE OR REPLACE FUNCTION guard_event_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.sequence IS NOT NULL OR NEW.sequence IS NULL
           OR (NEW.id, NEW.type, NEW.created_at, NEW.wallet_ids, NEW.user_ids, NEW.data)
              IS DISTINCT FROM (OLD.id, OLD.type, OLD.created_at, OLD.wallet_ids, OLD.user_ids, OLD.data) THEN
          RAISE EXCEPTION 'event % is immutable: only its sequence is set, once', OLD.id
            USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER events_immutable BEFORE UPDATE ON events
        FOR EACH ROW EXECUTE FUNCTION guard_event_update()`);
    await q.query(`
      CREATE TRIGGER events_append_only BEFORE DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION refuse_history_change()`);
    await q.query(`
      CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);
    // One run of the sequencer, in one round trip: under a transaction-scoped advisory lock (one run at a
    // time per database, on any instance), number the oldest unnumbered committed events after the highest
    // number given so far. In READ COMMITTED each statement of a function takes a new snapshot, so the
    // UPDATE sees every event and number committed before the lock was granted. -1: another run holds it.
    await q.query(`
      CREATE OR REPLACE FUNCTION hfts_sequence_events(max_rows int) RETURNS int LANGUAGE plpgsql AS $$
      DECLARE n int;
      BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('hfts.events.sequencer')) THEN
          RETURN -1;
        END IF;
        WITH todo AS (
          SELECT id, row_number() OVER (ORDER BY created_at, id) AS r
            FROM (SELECT id, created_at FROM events WHERE sequence IS NULL
                   ORDER BY created_at, id LIMIT max_rows) oldest),
             base AS (SELECT coalesce(max(sequence), 0) AS b FROM events)
        UPDATE events e SET sequence = base.b + todo.r FROM todo, base WHERE e.id = todo.id;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
      END $$`);
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT, INSERT ON events TO hfts_app;
          GRANT UPDATE (sequence) ON events TO hfts_app;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION hfts_sequence_events(int)`);
    await q.query(`DROP TABLE events`);
    await q.query(`DROP FUNCTION guard_event_update()`);
  }
}
