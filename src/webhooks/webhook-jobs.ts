import type { Pool, PoolClient } from 'pg';
import { type EventJson, eventJson, type EventRow } from '../events/event.record';
import { type ClaimBounds, planClaims } from './claim-plan';
import { CANDIDATES_SQL, FANOUT_SQL, IN_FLIGHT_SQL } from './webhook-jobs.sql';

/** A claimed delivery job, with what its attempt needs: the endpoint's URL and secret, and the event. */
export interface ClaimedJob {
  id: string;
  endpointId: string;
  url: string;
  secret: string;
  /** This attempt's number (1 for the first). */
  attempt: number;
  event: EventJson;
}

/** What an attempt came to, to record: the job's next state follows from `ok` and `retryInMs`. */
export interface AttemptRecord {
  jobId: string;
  attempt: number;
  ok: boolean;
  /** Milliseconds to the next attempt; null: no more attempts (the job is FAILED) or it succeeded. */
  retryInMs: number | null;
  responseStatus: number | null;
  error: string | null;
}

interface CandidateRow {
  id: string;
  owner: string;
  active: boolean;
  due: number;
}

interface ClaimRow {
  id: string;
  endpoint_id: string;
  url: string;
  secret: string;
  attempts: number;
  event_id: string;
  type: EventRow['type'];
  sequence: string;
  created_at: Date;
  wallet_ids: string[];
  user_ids: string[];
  data: Record<string, unknown>;
}

/**
 * The dispatcher's SQL, on the webhooks' own small pool. Every statement is short and none waits on a
 * receiver: a job is claimed (leased) in one transaction, sent with no connection held, and its outcome
 * recorded in one statement.
 */
export class WebhookJobs {
  constructor(private readonly pool: Pool) {}

  /**
   * Turns the next sequenced events (after the cursor) into one job per matching endpoint: a user's
   * endpoint matches the events whose `user_ids` hold that user, an admin's every event, both only of
   * the endpoint's eventTypes, only events that happened after it was registered, and only while its
   * owner is ACTIVE at that event's place in the stream: `webhook_paused_owners` holds who is not at the
   * cursor, the batch's own `user.status_changed` events (which carry the new status) apply in sequence
   * order, and the table is left as the batch's end has it. So a status change event reaches its user
   * only when it makes them ACTIVE. The cursor row is locked with SKIP LOCKED, so one instance at a time
   * fans out; UNIQUE (endpoint_id, event_id) makes a repeated range harmless. Returns how many events it
   * read (0 when another instance holds the cursor).
   */
  async fanOut(limit: number): Promise<number> {
    return this.transaction(async (c) => {
      const cursor = await c.query<{ last: string }>(
        `SELECT last_sequence::text AS last FROM webhook_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED`,
      );
      if (cursor.rows.length === 0) return 0;
      const { rows } = await c.query<{ last: string | null; events: number }>(FANOUT_SQL, [
        cursor.rows[0].last,
        limit,
      ]);
      const { last, events } = rows[0];
      if (last !== null) await c.query(`UPDATE webhook_cursor SET last_sequence = $1 WHERE id = 1`, [last]);
      return events;
    });
  }

  /**
   * Claims up to `bounds.room` due jobs, shared fairly (planClaims): at most `perEndpoint` attempts in
   * flight per endpoint and `perOwner` per owner, across all instances, the free slots going first to the
   * owners and endpoints with the fewest in flight, and leases them for `leaseMs`. The candidate endpoints
   * are locked first (FOR NO KEY UPDATE SKIP LOCKED, which does not block the fan-out's inserts), and the
   * jobs in flight to them are counted in the next statement, after any other instance's claim on them
   * committed, so the per-endpoint bound holds across instances (the per-owner one is per claim: two instances may each
   * take an owner's last slot). The jobs themselves are taken FOR UPDATE SKIP LOCKED, oldest due first.
   * An endpoint whose owner is not ACTIVE gets nothing: its pending jobs are cancelled here (the status
   * change's trigger cancelled those queued before it; these are the ones a fan-out still made from
   * events numbered before the change).
   */
  async claim(bounds: ClaimBounds, leaseMs: number): Promise<ClaimedJob[]> {
    const rows = await this.transaction(async (c) => {
      const found = await c.query<CandidateRow>(CANDIDATES_SQL, [bounds.perEndpoint, bounds.perOwner]);
      const inactive = found.rows.filter((r) => !r.active).map((r) => r.id);
      if (inactive.length > 0) {
        await c.query(
          `UPDATE webhook_deliveries SET state = 'CANCELLED', lease_until = NULL
            WHERE endpoint_id = ANY ($1::uuid[]) AND state = 'PENDING'
              AND (lease_until IS NULL OR lease_until <= now())`,
          [inactive],
        );
      }
      const active = found.rows.filter((r) => r.active);
      if (active.length === 0) return [];
      // Counted again now that the endpoints are locked (IN_FLIGHT_SQL says why).
      const counted = await c.query<{ id: string; in_flight: number; owner_in_flight: number }>(
        IN_FLIGHT_SQL,
        [active.map((r) => r.id)],
      );
      const inFlight = new Map(counted.rows.map((r) => [r.id, r]));
      const plan = planClaims(
        // Every locked endpoint is counted: a locked row cannot go away.
        active
          .filter((r) => inFlight.has(r.id))
          .map((r) => ({
            endpointId: r.id,
            ownerId: r.owner,
            inFlight: inFlight.get(r.id)!.in_flight,
            ownerInFlight: inFlight.get(r.id)!.owner_in_flight,
            due: r.due,
          })),
        bounds,
      );
      if (plan.size === 0) return [];
      const claimed = await c.query<ClaimRow>(
        `WITH picked AS (
           SELECT j.id FROM unnest($1::uuid[], $2::int[]) AS e(id, n)
           CROSS JOIN LATERAL (
             SELECT d.id FROM webhook_deliveries d
              WHERE d.endpoint_id = e.id AND d.state = 'PENDING' AND d.next_attempt_at <= now()
                AND (d.lease_until IS NULL OR d.lease_until <= now())
              ORDER BY d.next_attempt_at, d.id
              LIMIT e.n
              FOR UPDATE SKIP LOCKED
           ) j
         )
         UPDATE webhook_deliveries d
            SET lease_until = now() + $3 * interval '1 millisecond', attempts = d.attempts + 1
           FROM picked, webhook_endpoints w, numbered_events e
          WHERE d.id = picked.id AND w.id = d.endpoint_id AND e.id = d.event_id
         RETURNING d.id::text, d.endpoint_id, w.url, w.secret, d.attempts,
                   e.id AS event_id, e.type, e.sequence::text, e.created_at, e.wallet_ids, e.user_ids, e.data`,
        [[...plan.keys()], [...plan.values()], leaseMs],
      );
      return claimed.rows;
    });
    return rows.map((r) => ({
      id: r.id,
      endpointId: r.endpoint_id,
      url: r.url,
      secret: r.secret,
      attempt: r.attempts,
      // The events API's JSON form, from the outbox's own mapping (src/events/event.record.ts).
      event: eventJson({ ...r, id: r.event_id }),
    }));
  }

  /**
   * Records attempts in the delivery log and settles or reschedules their jobs, all in one statement
   * (the dispatcher gathers the attempts that finish together). Only while a job is still this claim's
   * (same attempt number, still PENDING): a job cancelled by the endpoint's deletion, or re-claimed after
   * its lease ran out, is left as it is.
   */
  async record(rs: AttemptRecord[]): Promise<void> {
    if (rs.length === 0) return;
    await this.pool.query(
      `WITH r AS (
         SELECT * FROM unnest($1::bigint[], $2::int[], $3::boolean[], $4::bigint[], $5::int[], $6::text[])
                AS r(id, attempt, ok, retry_ms, response_status, error)
       ), job AS (
         UPDATE webhook_deliveries d
            SET state = CASE WHEN r.ok THEN 'SUCCEEDED' WHEN r.retry_ms IS NULL THEN 'FAILED' ELSE 'PENDING' END,
                next_attempt_at = CASE WHEN r.ok OR r.retry_ms IS NULL THEN d.next_attempt_at
                                       ELSE now() + r.retry_ms * interval '1 millisecond' END,
                lease_until = NULL
           FROM r
          WHERE d.id = r.id AND d.attempts = r.attempt AND d.state = 'PENDING'
         RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, r.ok, r.response_status, r.error
       )
       INSERT INTO webhook_attempts (delivery_id, endpoint_id, event_id, attempt, status, response_status, error)
       SELECT id, endpoint_id, event_id, attempts, CASE WHEN ok THEN 'SUCCEEDED' ELSE 'FAILED' END,
              response_status, error
         FROM job ORDER BY id`,
      [
        rs.map((r) => r.jobId),
        rs.map((r) => r.attempt),
        rs.map((r) => r.ok),
        rs.map((r) => r.retryInMs),
        rs.map((r) => r.responseStatus),
        rs.map((r) => r.error?.slice(0, 500) ?? null),
      ],
    );
  }

  /**
   * An idle dispatcher's one statement: whether there is work (numbered events not fanned out, a due job
   * not leased), and else in how many milliseconds the next job comes due or a lease lapses (null: none).
   */
  async probe(): Promise<{ work: boolean; nextInMs: number | null }> {
    const { rows } = await this.pool.query<{ work: boolean; next_ms: number | null }>(
      // The next sequence after the cursor by event_sequence's key (one index probe; max() over the
      // numbered_events view was a hash join of both tables over sequential scans).
      `SELECT (SELECT s.sequence FROM event_sequence s WHERE s.sequence > c.last_sequence
                ORDER BY s.sequence LIMIT 1) IS NOT NULL
              OR EXISTS (SELECT 1 FROM webhook_deliveries d
                          WHERE d.state = 'PENDING' AND d.next_attempt_at <= now()
                            AND (d.lease_until IS NULL OR d.lease_until <= now())) AS work,
              extract(epoch FROM least(
                (SELECT min(next_attempt_at) FROM webhook_deliveries WHERE state = 'PENDING' AND next_attempt_at > now()),
                (SELECT min(lease_until) FROM webhook_deliveries WHERE state = 'PENDING' AND lease_until > now())
              ) - now())::float8 * 1000 AS next_ms
         FROM webhook_cursor c WHERE c.id = 1`,
    );
    return { work: rows[0]?.work ?? true, nextInMs: rows[0]?.next_ms ?? null };
  }

  /**
   * Seconds since the oldest due work became due: a pending job past its time, or the next sequenced
   * event not yet fanned out (an ordered index probe from the cursor: as a join with min() it was a hash
   * join over a sequential scan of events on every scrape). 0 when nothing waits.
   */
  async lagSeconds(): Promise<number> {
    const { rows } = await this.pool.query<{ lag: number }>(
      `SELECT greatest(
         (SELECT extract(epoch FROM now() - min(next_attempt_at)) FROM webhook_deliveries
           WHERE state = 'PENDING' AND next_attempt_at <= now()),
         (SELECT extract(epoch FROM now() - n.created_at) FROM webhook_cursor c,
                 LATERAL (SELECT e.created_at FROM numbered_events e WHERE e.sequence > c.last_sequence
                           ORDER BY e.sequence LIMIT 1) n
           WHERE c.id = 1),
         0)::float8 AS lag`,
    );
    return rows[0]?.lag ?? 0;
  }

  /**
   * Deletes up to `limit` jobs settled (SUCCEEDED, FAILED or CANCELLED) more than `days` ago, with their
   * attempts; returns how many jobs went. SKIP LOCKED: instances pruning at once take different rows.
   */
  async prune(days: number, limit: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `WITH old AS (
         SELECT id FROM webhook_deliveries
          WHERE state <> 'PENDING' AND created_at < now() - $1 * interval '1 day'
          LIMIT $2 FOR UPDATE SKIP LOCKED
       ), attempts AS (
         DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM old)
       )
       DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM old)`,
      [days, limit],
    );
    return rowCount ?? 0;
  }

  private async transaction<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    // pg's Pool stops listening to a client it hands out: a server dying mid-transaction (a failover)
    // would otherwise be an unhandled 'error' event that ends the process. The transaction fails on its own.
    const lost = (): void => undefined;
    c.on('error', lost);
    try {
      await c.query('BEGIN');
      const result = await work(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.off('error', lost);
      c.release();
    }
  }
}
