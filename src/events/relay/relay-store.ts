import type { Pool, PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import { sameDatabasePool } from '../../database/pools';
import type { EventType } from '../outbox';

/** A numbered event as the relay publishes it: the message body is the event JSON, built by PostgreSQL. */
export interface RelayEvent {
  id: string;
  type: EventType;
  /** bigint as text: never through a JS number unchecked. */
  sequence: string;
  /** The event JSON of the events API (`eventJson`): `{id, type, sequence, createdAt, walletIds, data}`. */
  body: string;
}

/**
 * The event JSON, built in the query (the same object as eventJson in event.record.ts, which the
 * integration test checks message by message): the relay then neither parses `data` nor serialises it again,
 * which was most of its CPU per event. createdAt as Date.toISOString writes it (UTC, milliseconds).
 */
const RELAY_COLUMNS = `e.id, e.type, e.sequence::text AS sequence,
  json_build_object('id', e.id, 'type', e.type, 'sequence', e.sequence,
    'createdAt', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'walletIds', e.wallet_ids, 'data', e.data)::text AS body`;

/** What a pass did with the batch it was given: the highest sequence acknowledged, in order, and why it stopped. */
export interface BatchResult {
  /** The sequence of the last event of the acknowledged prefix; undefined when none was. */
  lastAcked?: string;
  error?: unknown;
}

/**
 * The relay's reads and its cursor (table event_relay_cursors, migration EventRelay1764400000100), on a
 * small pool of its own: a pass keeps its transaction open while NATS acknowledges, and that must never
 * take a connection from the pool that money movements use.
 */
export class RelayStore {
  private constructor(
    private readonly pool: Pool,
    private readonly stream: string,
  ) {}

  /** A pool of two (a pass, and a scrape of the lag) on the same server, as the same role, as the app's. */
  static onSameDatabase(dataSource: DataSource, stream: string): RelayStore {
    return new RelayStore(sameDatabasePool(dataSource, 'hfts-relay', 2), stream);
  }

  /** The cursor row of this stream, created at 0 (everything not relayed yet) when missing. */
  async ensureCursor(): Promise<void> {
    await this.pool.query(
      `INSERT INTO event_relay_cursors (stream) VALUES ($1) ON CONFLICT (stream) DO NOTHING`,
      [this.stream],
    );
  }

  /**
   * One pass: locks the stream's cursor row (SKIP LOCKED: when another instance holds it, that instance is
   * relaying and this one does nothing), hands `publish` up to `limit` numbered events after the cursor in
   * sequence order, and moves the cursor to the last one acknowledged, all in one transaction. Returns how
   * many events were acknowledged, or -1 when another instance held the cursor. A publish error is thrown
   * after the acknowledged prefix has been recorded.
   */
  async pass(limit: number, publish: (events: RelayEvent[]) => Promise<BatchResult>): Promise<number> {
    const client = await this.pool.connect();
    // pg's Pool stops listening to a client it hands out: a server dying during the pass (a failover)
    // would otherwise be an unhandled 'error' event that ends the process. The pass fails on its own.
    const lost = (): void => undefined;
    client.on('error', lost);
    let broken = false;
    try {
      await client.query('BEGIN');
      const cursor = await client.query<{ last: string }>(
        `SELECT last_sequence::text AS last FROM event_relay_cursors WHERE stream = $1 FOR UPDATE SKIP LOCKED`,
        [this.stream],
      );
      if (cursor.rows.length === 0) {
        await client.query('COMMIT');
        return -1;
      }
      const events = await client.query<RelayEvent>(
        `SELECT ${RELAY_COLUMNS} FROM numbered_events e WHERE e.sequence > $1 ORDER BY e.sequence LIMIT $2`,
        [cursor.rows[0].last, limit],
      );
      if (events.rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const result = await publish(events.rows);
      const acked = result.lastAcked ? events.rows.findIndex((e) => e.sequence === result.lastAcked) + 1 : 0;
      if (acked > 0) {
        await client.query(
          `UPDATE event_relay_cursors SET last_sequence = $2, updated_at = now() WHERE stream = $1`,
          [this.stream, result.lastAcked],
        );
      }
      await client.query('COMMIT');
      if (result.error) throw new PublishError(result.error);
      return acked;
    } catch (err) {
      broken = !(err instanceof PublishError);
      if (broken) await rollback(client);
      throw err;
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  /**
   * Whether numbered events wait after this stream's cursor: the idle relay's one-statement probe. The
   * next sequence after the cursor by event_sequence's key (one index probe): `max(sequence)` of the
   * numbered_events view was a hash join of both tables over sequential scans (max() of a join never
   * uses an index), on every probe.
   */
  async behind(): Promise<boolean> {
    const { rows } = await this.pool.query<{ behind: boolean }>(
      `SELECT (SELECT s.sequence FROM event_sequence s WHERE s.sequence > c.last_sequence
                ORDER BY s.sequence LIMIT 1) IS NOT NULL AS behind
         FROM event_relay_cursors c WHERE c.stream = $1`,
      [this.stream],
    );
    return rows[0]?.behind ?? true;
  }

  /**
   * The outbox lag in seconds: age of the next numbered event after the cursor, and of the first event
   * not numbered yet, by transaction id, at or above the sequencer's horizon (0 when there is none). Each
   * is an ordered index scan that stops at its first row, the cursor and the horizon reaching it as the
   * outer row's values (index conditions). As joins (`numbered_events e, event_relay_cursors c WHERE
   * e.sequence > c.last_sequence`, and min() over an anti-join), they were planned for a third of the
   * tables: an index scan of event_sequence from its first row, a hash join over a sequential scan of
   * events, on every scrape of /metrics. The "not numbered" test is a LATERAL with LIMIT, as in the
   * sequencer: a NOT EXISTS became a hash anti-join over a sequential scan of event_sequence once ANALYZE
   * knew that nearly every event is numbered.
   */
  async lag(): Promise<{ unrelayed: number; unsequenced: number }> {
    const { rows } = await this.pool.query<{ unrelayed: number | null; unsequenced: number | null }>(
      `SELECT
         (SELECT extract(epoch FROM now() - n.created_at)::float8
            FROM event_relay_cursors c,
                 LATERAL (SELECT e.created_at FROM numbered_events e WHERE e.sequence > c.last_sequence
                           ORDER BY e.sequence LIMIT 1) n
           WHERE c.stream = $1) AS unrelayed,
         (SELECT extract(epoch FROM now() - u.created_at)::float8
            FROM event_sequencer_state st,
                 LATERAL (SELECT e.created_at FROM events e
                            LEFT JOIN LATERAL (SELECT 1 AS done FROM event_sequence s
                                                WHERE s.event_id = e.id LIMIT 1) s ON true
                           WHERE e.xid >= st.horizon AND s.done IS NULL
                           ORDER BY e.xid LIMIT 1) u
           WHERE st.id = 1) AS unsequenced`,
      [this.stream],
    );
    return {
      unrelayed: Math.max(0, rows[0].unrelayed ?? 0),
      unsequenced: Math.max(0, rows[0].unsequenced ?? 0),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A publish that failed after the pass had recorded what was acknowledged (the transaction is committed). */
export class PublishError extends Error {
  constructor(cause: unknown) {
    super(`publish to NATS failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

async function rollback(client: PoolClient): Promise<void> {
  try {
    await client.query('ROLLBACK');
  } catch {
    // the connection is gone: released as broken
  }
}
