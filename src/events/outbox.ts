import { randomUUID } from 'node:crypto';

/** The event types of contract v1.1, one per kind of committed change. */
export const EVENT_TYPES = [
  'transaction.completed',
  'transaction.failed',
  'hold.created',
  'hold.captured',
  'hold.voided',
  'hold.expired',
  'refund.completed',
  'user.status_changed',
  'monitor.triggered',
  'monitor.cleared',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** An event as a change writes it into the outbox; the sequencer numbers it after commit. */
export interface OutboxEvent {
  id: string;
  type: EventType;
  /** The wallets the change touched. */
  walletIds: string[];
  /** The users it touches: the owners of those wallets, or the user whose account changed. */
  userIds: string[];
  /** `{transaction}` or `{user}`: the object as it stands after the change, in its API form. */
  data: Record<string, unknown>;
}

export function outboxEvent(
  type: EventType,
  walletIds: Array<string | null | undefined>,
  userIds: Array<string | null | undefined>,
  data: Record<string, unknown>,
): OutboxEvent {
  return { id: randomUUID(), type, walletIds: distinct(walletIds), userIds: distinct(userIds), data };
}

function distinct(ids: Array<string | null | undefined>): string[] {
  return [...new Set(ids.filter((x): x is string => typeof x === 'string'))];
}

/**
 * `INSERT INTO events` of the events passed as five arrays starting at placeholder `$from`, at the
 * instant `now` (an SQL expression). A set-based insert, so its text is the same for any number of events
 * (none included); `guard` is a relation (a CTE) that yields a row only when the write may happen.
 *
 * The events of one statement share ONE `commit_order` value, taken once the statement holds its row locks
 * (the guard CTE is computed after them), so two changes that touch one row take them in commit order;
 * `ordinal` keeps their order within it; the column `xid` (its default) lets the sequencer find them (migration
 * EventOrder1764500000000).
 */
export function eventInsert(from: number, now: string, guard?: string): string {
  const p = (i: number) => `$${from + i}`;
  return `INSERT INTO events (id, type, created_at, wallet_ids, user_ids, data, commit_order, ordinal)
    SELECT e.id, e.type, ${now}, string_to_array(e.w, ',')::uuid[], string_to_array(e.u, ',')::uuid[], e.d, o.n, e.ord
      FROM (SELECT nextval('event_commit_order') AS n${guard ? ` FROM ${guard}` : ''}) o
     CROSS JOIN LATERAL (
       SELECT * FROM unnest(${p(0)}::uuid[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::jsonb[])
                WITH ORDINALITY x(id, type, w, u, d, ord)
        WHERE o.n IS NOT NULL) e`;
}

/** The five parameter arrays of `eventInsert`. */
export function eventInsertArrays(events: OutboxEvent[]): unknown[][] {
  return [
    events.map((e) => e.id),
    events.map((e) => e.type),
    events.map((e) => e.walletIds.join(',')),
    events.map((e) => e.userIds.join(',')),
    events.map((e) => JSON.stringify(e.data)),
  ];
}
