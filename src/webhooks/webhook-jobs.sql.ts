/**
 * The two long statements of WebhookJobs, kept apart so that its file reads as what it does. Both run on
 * the webhooks' own pool, inside WebhookJobs' transactions.
 */

/**
 * The fan-out of the next numbered events after the cursor ($1), at most $2, into jobs: a user's endpoints
 * get the events touching that user, an admin's every event; only of the endpoint's eventTypes, only events
 * after its registration, and only while its owner is ACTIVE at that event's place in the stream
 * (`webhook_paused_owners` as the cursor left it, then the batch's own `user.status_changed` events in
 * sequence order; the table is left as the batch's end has it). Answers `last` (the batch's highest
 * sequence, null when empty), `events` and `jobs`.
 */
export const FANOUT_SQL = `WITH batch AS (
   SELECT id, type, sequence, created_at, user_ids,
          CASE WHEN type = 'user.status_changed' THEN data->'user'->>'status' END AS new_status
     FROM numbered_events
    WHERE sequence > $1
    ORDER BY sequence LIMIT $2
 ), changes AS (
   -- A user.status_changed event touches exactly the user whose status it gives.
   SELECT sequence, user_ids[1] AS user_id, new_status = 'ACTIVE' AS active
     FROM batch WHERE new_status IS NOT NULL
 ), matched AS (
   -- The endpoints of the users each event touches (by the endpoints' user_id index) ...
   SELECT w.id AS endpoint_id, w.user_id AS owner, w.created_at AS registered, w.event_types,
          b.id, b.type, b.sequence, b.created_at
     FROM batch b
    CROSS JOIN LATERAL unnest(b.user_ids) AS touched(user_id)
     JOIN webhook_endpoints w ON w.user_id = touched.user_id AND w.deleted_at IS NULL
   UNION
   -- ... and every admin's endpoint.
   SELECT w.id, w.user_id, w.created_at, w.event_types, b.id, b.type, b.sequence, b.created_at
     FROM webhook_endpoints w
     JOIN users u ON u.id = w.user_id AND u.role = 'ADMIN'
    CROSS JOIN batch b
    WHERE w.deleted_at IS NULL
 ), jobs AS (
   INSERT INTO webhook_deliveries (endpoint_id, event_id, event_sequence)
   SELECT endpoint_id, id, sequence FROM matched m
    WHERE registered <= created_at AND (event_types IS NULL OR type = ANY (event_types))
      -- The owner's status at this event: their latest change up to it in the batch, else as
      -- the cursor left it (the CTEs below change the table only after this statement's snapshot).
      AND coalesce(
            (SELECT c.active FROM changes c WHERE c.user_id = m.owner AND c.sequence <= m.sequence
              ORDER BY c.sequence DESC LIMIT 1),
            NOT EXISTS (SELECT 1 FROM webhook_paused_owners p WHERE p.user_id = m.owner))
    ORDER BY sequence
   ON CONFLICT (endpoint_id, event_id) DO NOTHING
   RETURNING 1
 ), latest AS (
   SELECT DISTINCT ON (user_id) user_id, active FROM changes ORDER BY user_id, sequence DESC
 ), resumed AS (
   DELETE FROM webhook_paused_owners p USING latest l WHERE p.user_id = l.user_id AND l.active
 ), paused AS (
   INSERT INTO webhook_paused_owners (user_id) SELECT user_id FROM latest WHERE NOT active
   ON CONFLICT (user_id) DO NOTHING
 )
 SELECT (SELECT max(sequence) FROM batch)::text AS last,
        (SELECT count(*) FROM batch)::int AS events,
        (SELECT count(*) FROM jobs)::int AS jobs`;

/**
 * The attempts in flight (leased jobs) to the endpoint `w` (`flight.n`) and to all of its owner's endpoints
 * (`owner_flight.n`), on every instance: counts of webhook_deliveries_leased, never a scan of a backlog.
 */
const IN_FLIGHT = `  CROSS JOIN LATERAL (
    SELECT count(*)::int AS n FROM webhook_deliveries b
     WHERE b.endpoint_id = w.id AND b.state = 'PENDING' AND b.lease_until > now()
  ) flight
  CROSS JOIN LATERAL (
    SELECT count(*)::int AS n FROM webhook_endpoints o
      JOIN webhook_deliveries b ON b.endpoint_id = o.id
     WHERE o.user_id = w.user_id AND b.state = 'PENDING' AND b.lease_until > now()
  ) owner_flight`;

/**
 * The endpoints with due work that may take more of it ($1 per endpoint, $2 per owner), with what is in
 * flight to each and to its owner, on every instance; and those whose owner is not ACTIVE, whatever they
 * hold (their jobs are cancelled). One index probe per endpoint (webhook_deliveries_endpoint_due) and the
 * IN_FLIGHT counts. Busy owners last, so the LIMIT never leaves out a starved endpoint. Locked FOR NO KEY
 * UPDATE SKIP LOCKED. Its counts are of this statement's snapshot, which may predate another instance's
 * claim that committed just before the row lock was taken: they only choose the candidates, and
 * IN_FLIGHT_SQL counts again once the locks are held.
 */
export const CANDIDATES_SQL = `SELECT w.id, w.user_id AS owner, u.status = 'ACTIVE' AS active, due.n AS due
   FROM webhook_endpoints w
   JOIN users u ON u.id = w.user_id
  CROSS JOIN LATERAL (
    SELECT min(x.next_attempt_at) AS since, count(*)::int AS n FROM (
      SELECT d.next_attempt_at FROM webhook_deliveries d
       WHERE d.endpoint_id = w.id AND d.state = 'PENDING' AND d.next_attempt_at <= now()
         AND (d.lease_until IS NULL OR d.lease_until <= now())
       ORDER BY d.next_attempt_at LIMIT $1) x
  ) due
${IN_FLIGHT}
  WHERE w.deleted_at IS NULL AND due.n > 0
    AND (u.status <> 'ACTIVE' OR (flight.n < $1 AND owner_flight.n < $2))
  ORDER BY owner_flight.n, flight.n, due.since
  LIMIT 500
  FOR NO KEY UPDATE OF w SKIP LOCKED`;

/**
 * The attempts in flight to each of the endpoints $1 and to its owner, counted in a statement that begins
 * after CANDIDATES_SQL locked them: any other instance's claim on them has committed by now (it held the
 * lock) or cannot start before this transaction ends, so the per-endpoint bound holds across instances.
 * Counted in CANDIDATES_SQL alone, two instances claiming together each saw the other's leases missing and
 * an endpoint with WEBHOOK_ENDPOINT_CONCURRENCY=2 had 4 attempts open at once (webhooks.spec.ts, in CI).
 */
export const IN_FLIGHT_SQL = `SELECT w.id, flight.n AS in_flight, owner_flight.n AS owner_in_flight
   FROM webhook_endpoints w
${IN_FLIGHT}
  WHERE w.id = ANY ($1::uuid[])`;
