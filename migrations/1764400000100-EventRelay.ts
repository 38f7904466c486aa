import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where the relay to NATS JetStream (src/events/relay) has got to: one row per stream, holding the highest
 * event `sequence` whose PubAck came back. A relay pass locks its stream's row `FOR UPDATE SKIP LOCKED`, so
 * of several instances one relays a batch at a time and the others skip (no double publishing in the normal
 * case); it publishes the events after `last_sequence` in sequence order and moves the cursor in the same
 * transaction. A crash between a PubAck and the cursor update re-sends those events on the next pass, and
 * JetStream's duplicate window drops them by their Nats-Msg-Id (the event id).
 *
 * The relay creates the row of the stream it is configured for (NATS_STREAM) when missing; the default
 * stream's row is created here.
 */
export class EventRelay1764400000100 implements MigrationInterface {
  name = 'EventRelay1764400000100';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE event_relay_cursors (
        stream varchar(64) PRIMARY KEY,
        last_sequence bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`INSERT INTO event_relay_cursors (stream) VALUES ('HFTS_EVENTS')`);
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT, INSERT, UPDATE ON event_relay_cursors TO hfts_app;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE event_relay_cursors`);
  }
}
