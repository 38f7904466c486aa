import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Events numbered in commit order, without writing an event row twice (issues 21 and 22).
 *
 * Before: `sequence` lived in the event row; the sequencer UPDATEd every event to number it (a second full
 * copy of its jsonb, a new entry in each of its four indexes, through a row trigger), and it numbered the
 * events found in one run by `created_at`: for a transfer, when it was planned, not when it committed.
 *
 * Now:
 * - `events` is written once and never changed. Each change's events carry `commit_order`, ONE value per
 *   writing statement, taken by the statement after it holds every row lock it takes (so two changes that
 *   touch the same row get their values in the order they commit), and `ordinal`, their order within it.
 * - `event_sequence (sequence, event_id)` is the numbering: a narrow row per event, inserted by the sequencer
 *   after commit. `numbered_events` joins the two; readers read only it.
 * - The sequencer numbers the committed events it has not numbered yet by (commit_order, ordinal). To find
 *   them without a flag on the event row, each event keeps the id of the transaction that wrote it (`xid`),
 *   and the sequencer a horizon: the oldest transaction still running when it last numbered everything it
 *   found. Every transaction below the horizon had ended by then, so its events were numbered; a run looks
 *   only at events at or above it (a few runs' worth, through an index).
 */
export class EventOrder1764500000000 implements MigrationInterface {
  name = 'EventOrder1764500000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE SEQUENCE event_commit_order AS bigint`);
    await q.query(
      `ALTER TABLE events ADD COLUMN commit_order bigint, ADD COLUMN ordinal int NOT NULL DEFAULT 0,
                                   ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()`,
    );
    await q.query(`ALTER TABLE events DISABLE TRIGGER USER`);
    // Events numbered so far keep their number as their commit order; the rest follow in the old order.
    await q.query(`
      UPDATE events e SET commit_order = o.n FROM (
        SELECT id, coalesce(sequence,
                 (SELECT coalesce(max(sequence), 0) FROM events)
                   + row_number() OVER (PARTITION BY sequence IS NULL ORDER BY created_at, id)) AS n
          FROM events) o
       WHERE e.id = o.id`);
    await q.query(`SELECT setval('event_commit_order', greatest((SELECT max(commit_order) FROM events), 1),
                                 (SELECT count(*) > 0 FROM events))`);
    await q.query(`
      CREATE TABLE event_sequence (
        sequence bigint PRIMARY KEY CHECK (sequence > 0),
        event_id uuid NOT NULL UNIQUE
      )`);
    await q.query(
      `INSERT INTO event_sequence (sequence, event_id) SELECT sequence, id FROM events WHERE sequence IS NOT NULL`,
    );
    await q.query(`
      CREATE TABLE event_sequencer_state (
        id int PRIMARY KEY CHECK (id = 1),
        horizon xid8 NOT NULL
      )`);
    await q.query(`INSERT INTO event_sequencer_state (id, horizon) VALUES (1, '0')`);
    await q.query(`DROP TRIGGER events_immutable ON events`);
    await q.query(`DROP TRIGGER events_append_only ON events`);
    await q.query(`DROP FUNCTION guard_event_update()`);
    await q.query(`ALTER TABLE events DROP COLUMN sequence`);
    await q.query(`ALTER TABLE events ALTER COLUMN commit_order SET NOT NULL`);
    await q.query(`ALTER TABLE events ENABLE TRIGGER USER`);
    await q.query(`CREATE INDEX events_xid ON events (xid)`);
    // History is append-only: statement triggers (they cost an insert nothing, unlike row triggers).
    for (const table of ['events', 'event_sequence']) {
      await q.query(`
        CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);
    }
    await q.query(`
      CREATE TRIGGER event_sequence_no_truncate BEFORE TRUNCATE ON event_sequence
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()`);
    await q.query(`
      CREATE VIEW numbered_events AS
      SELECT s.sequence, e.id, e.type, e.created_at, e.wallet_ids, e.user_ids, e.data
        FROM event_sequence s JOIN events e ON e.id = s.event_id`);
    // One run of the sequencer, under a transaction-scoped advisory lock (one run at a time per database):
    // one statement numbers the unnumbered events it can see, at or above the horizon, in commit order, and
    // reads its own snapshot's xmin. Every transaction below that xmin had ended before the statement began,
    // so all their events were visible to it: once it has numbered everything it found, that xmin is the new
    // horizon. (Moved only when something was numbered, so an idle run writes nothing.)
    await q.query(`
      CREATE OR REPLACE FUNCTION hfts_sequence_events(max_rows int) RETURNS int LANGUAGE plpgsql
      -- plpgsql caches a generic plan after five calls, made while the tables were small (a fresh database):
      -- it would keep scanning events and event_sequence whole as they grow. Plan each call for its values,
      -- and by index: before events is first analyzed, 'xid >= h' is guessed to match a third of the table,
      -- which makes a sequential scan of every event look cheaper than the index (355 tuples read per
      -- transfer at 800 events); the range above the horizon is always a few runs' worth.
      SET plan_cache_mode = force_custom_plan SET enable_seqscan = off AS $$
      DECLARE
        h xid8;
        x xid8;
        base bigint;
        n int;
      BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('hfts.events.sequencer')) THEN
          RETURN -1;
        END IF;
        SELECT horizon INTO h FROM event_sequencer_state WHERE id = 1;
        SELECT coalesce(max(sequence), 0) INTO base FROM event_sequence;
        WITH c AS (
          -- Each candidate probes event_sequence's event_id index (a LATERAL with LIMIT: never a hash of the
          -- whole numbering table, however the statistics stand).
          SELECT e.id, e.commit_order, e.ordinal FROM events e
            LEFT JOIN LATERAL (SELECT 1 AS done FROM event_sequence s WHERE s.event_id = e.id LIMIT 1) s ON true
           WHERE e.xid >= h AND s.done IS NULL
           ORDER BY e.commit_order, e.ordinal LIMIT max_rows),
        ins AS (
          INSERT INTO event_sequence (sequence, event_id)
          SELECT base + row_number() OVER (ORDER BY c.commit_order, c.ordinal), c.id FROM c
          RETURNING 1)
        SELECT (SELECT count(*) FROM ins), pg_snapshot_xmin(pg_current_snapshot()) INTO n, x;
        IF n > 0 AND n < max_rows AND x > h THEN
          UPDATE event_sequencer_state SET horizon = x WHERE id = 1;
        END IF;
        IF n > 0 THEN
          PERFORM pg_notify('hfts_events', (base + n)::text);
        END IF;
        RETURN n;
      END $$`);
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          REVOKE UPDATE ON events FROM hfts_app;
          GRANT SELECT, INSERT ON event_sequence TO hfts_app;
          GRANT SELECT, UPDATE ON event_sequencer_state TO hfts_app;
          GRANT SELECT ON numbered_events TO hfts_app;
          GRANT USAGE, SELECT ON SEQUENCE event_commit_order TO hfts_app;
        END IF;
      END $$`);
  }

  public down(): Promise<void> {
    return Promise.reject(
      new Error('EventOrder1764500000000 cannot be reverted: events no longer carry their number'),
    );
  }
}
