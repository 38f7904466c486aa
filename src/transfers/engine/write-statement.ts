import { eventInsert, eventInsertArrays } from '../../events/outbox';
import { TX_INSERT_COLUMNS, TX_JSON, txInsertArrays, txUnnest } from '../transaction.record';
import type { StateQuery, WritePlan } from './engine.types';

/** A statement and its parameters, ready for the driver. */
export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * The write: ONE statement, so ONE transaction, for any number of movements. Its text never changes
 * (every part takes arrays, empty when unused), so it is parsed and planned once per connection.
 *
 * 1. `lk` locks the changed wallets in ascending id order, FOR NO KEY UPDATE: opposite movements cannot
 *    deadlock, and the KEY SHARE lock a foreign key takes on a wallet the statement only references (the
 *    receiver of a hold, the parties of a FAILED record) conflicts with no lock the engine ever takes.
 * 2. `ok` checks, on those locked rows, every condition the rules relied on: each wallet still at the
 *    version they saw and its owner ACTIVE where required; each hold being settled still PENDING (locked);
 *    each user who must be ACTIVE (or an admin) still so.
 * 3. Every write below runs only when `ok`; when a check fails, hfts_write_conflict() raises 40001 naming
 *    the failed check and the wallets that moved, so the statement rolls back (a commit would hold the
 *    locks through a WAL flush) and the engine decides again, from a fresh read, only what depends on them.
 */
const TX_ARRAYS = txInsertArrays([]).length;
const LEDGER = 14 + TX_ARRAYS;
const KEYS = LEDGER + 4;
const REFUNDS = KEYS + 6;
const META = REFUNDS + 3;
const EVENTS = META + 4;
const NOW = '$13::timestamptz';

const WRITE = `WITH
  v(id, version, dbal, dheld, active) AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::numeric[], $4::numeric[], $5::boolean[])),
  lk AS (SELECT w.id, w.version, w.user_id FROM wallets w WHERE w.id = ANY($1::uuid[]) ORDER BY w.id FOR NO KEY UPDATE),
  bad AS (
    SELECT v.id FROM v LEFT JOIN lk ON lk.id = v.id
     WHERE lk.id IS NULL OR lk.version <> v.version
        OR (v.active AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = lk.user_id AND u.status = 'ACTIVE'))),
  pend AS (SELECT t.id FROM transactions t WHERE t.id = ANY($6::uuid[]) AND t.status = 'PENDING'
            ORDER BY t.id FOR NO KEY UPDATE),
  rlk AS (SELECT t.id, t.refunded_amount FROM transactions t WHERE t.id = ANY($${REFUNDS}::uuid[]) AND t.status = 'COMPLETED'
           ORDER BY t.id FOR NO KEY UPDATE),
  rok AS (SELECT count(*) AS n FROM unnest($${REFUNDS}::uuid[], $${REFUNDS + 1}::numeric[]) r(id, expected)
            JOIN rlk ON rlk.id = r.id AND rlk.refunded_amount = r.expected),
  who AS (SELECT count(*) AS n FROM users u
           WHERE u.id = ANY($11::uuid[]) AND u.status = 'ACTIVE' AND (u.role = 'ADMIN' OR NOT u.id = ANY($12::uuid[]))),
  ok AS (SELECT (SELECT count(*) FROM bad) = 0 AS wallets_ok,
                (SELECT count(*) FROM pend) = cardinality($6::uuid[])
                  AND (SELECT n FROM rok) = cardinality($${REFUNDS}::uuid[]) AS settles_ok,
                (SELECT n FROM who) = cardinality($11::uuid[]) AS actors_ok),
  go AS (SELECT true AS go FROM ok WHERE wallets_ok AND settles_ok AND actors_ok),
  upd AS (
    UPDATE wallets w SET balance = w.balance + v.dbal, held = w.held + v.dheld, version = w.version + 1,
           updated_at = ${NOW}
      FROM v, go WHERE w.id = v.id AND w.id = ANY($1::uuid[])
    RETURNING w.id),
  tu AS (
    UPDATE transactions t SET status = s.status, amount = s.amount, failure_reason = s.reason, completed_at = s.at
      FROM unnest($6::uuid[], $7::text[], $8::numeric[], $9::text[], $10::timestamptz[]) s(id, status, amount, reason, at), go
     WHERE t.id = s.id AND t.id = ANY($6::uuid[])
    RETURNING t.id),
  ti AS (
    INSERT INTO transactions (${TX_INSERT_COLUMNS})
    SELECT x.* FROM ${txUnnest(placeholders(14, TX_ARRAYS))} x, go
    RETURNING id, seq),
  ru AS (
    UPDATE transactions t SET refunded_amount = r.next
      FROM unnest($${REFUNDS}::uuid[], $${REFUNDS + 2}::numeric[]) r(id, next), go
     WHERE t.id = r.id AND t.id = ANY($${REFUNDS}::uuid[])
    RETURNING t.id),
  tm AS (
    INSERT INTO transaction_metadata (wallet_id, key, value, seq, transaction_id)
    SELECT m.w, m.k, m.v, ti.seq, m.t
      FROM unnest($${META}::uuid[], $${META + 1}::text[], $${META + 2}::text[], $${META + 3}::uuid[]) m(w, k, v, t)
      JOIN ti ON ti.id = m.t),
  le AS (
    INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after, created_at)
    SELECT e.w, e.t, e.a, e.b, ${NOW}
      FROM unnest(${placeholders(LEDGER, 4)
        .map((p, i) => `${p}::${['uuid', 'uuid', 'numeric', 'numeric'][i]}[]`)
        .join(', ')}) e(w, t, a, b), go),
  ik AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, transaction_id, created_at)
    SELECT k.u, k.k, k.h, k.s, k.r, k.t, ${NOW}
      FROM unnest(${placeholders(KEYS, 6)
        .map((p, i) => `${p}::${['uuid', 'text', 'text', 'int', 'json', 'uuid'][i]}[]`)
        .join(', ')}) k(u, k, h, s, r, t), go),
  ev AS (${eventInsert(EVENTS, NOW, 'go')})
SELECT CASE WHEN ok.wallets_ok AND ok.settles_ok AND ok.actors_ok THEN true
            ELSE hfts_write_conflict(
                   CASE WHEN NOT ok.wallets_ok THEN 'version' WHEN NOT ok.settles_ok THEN 'settled' ELSE 'actor' END,
                   (SELECT array_agg(id::text) FROM bad)) END AS ok
  FROM ok`;

function placeholders(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `$${from + i}`);
}

export function writeStatement(plan: WritePlan): Statement {
  const w = plan.wallets;
  const s = plan.settles;
  const l = plan.ledger;
  const k = plan.idempotency;
  return {
    text: WRITE,
    values: [
      w.map((x) => x.id),
      w.map((x) => x.version),
      w.map((x) => x.balance.toFixed4()),
      w.map((x) => x.held.toFixed4()),
      w.map((x) => x.requireActive),
      s.map((x) => x.id),
      s.map((x) => x.status),
      s.map((x) => x.amount.toFixed4()),
      s.map((x) => x.failureReason),
      s.map((x) => x.at.toISOString()),
      [...new Set([...plan.mustBeActive, ...plan.mustBeAdmin])],
      [...new Set(plan.mustBeAdmin)],
      plan.now.toISOString(),
      ...txInsertArrays(plan.inserts),
      l.map((x) => x.walletId),
      l.map((x) => x.transactionId),
      l.map((x) => x.amount.toFixed4()),
      l.map((x) => x.balanceAfter.toFixed4()),
      k.map((x) => x.caller),
      k.map((x) => x.key),
      k.map((x) => x.hash),
      k.map((x) => x.status),
      k.map((x) => JSON.stringify(x.body)),
      k.map((x) => x.transactionId),
      plan.refunds.map((x) => x.id),
      plan.refunds.map((x) => x.expected.toFixed4()),
      plan.refunds.map((x) => x.next.toFixed4()),
      ...metadataRows(plan),
      ...eventInsertArrays(plan.events),
    ],
  };
}

/** One index row per party wallet and metadata key of each new transaction, as four column arrays. */
function metadataRows(plan: WritePlan): unknown[][] {
  const rows: Array<[string, string, string, string]> = [];
  for (const tx of plan.inserts) {
    for (const wallet of [tx.sourceWalletId, tx.destinationWalletId]) {
      if (!wallet) continue;
      for (const [key, value] of Object.entries(tx.metadata)) rows.push([wallet, key, value, tx.id]);
    }
  }
  return [0, 1, 2, 3].map((i) => rows.map((r) => r[i]));
}

/**
 * The read: every wallet, user, transaction and stored response a set of movements may look at, in one
 * round trip. Wallets come with their owner's status; the parties of the named transactions are included.
 *
 * Both statements reach every table by `= ANY(array)` on a key, never by a join to unnest(): the prepared
 * statements run on generic plans, which planned such joins as hash joins over sequential scans of
 * idempotency_keys, wallets and users (3.7 ms per read at 10,000 wallets, and growing with the tables).
 */
const READ = `SELECT
  (SELECT json_agg(json_build_object('caller', k.user_id, 'key', k.key, 'hash', k.request_hash,
                                     'status', k.status_code, 'body', k.response))
     FROM idempotency_keys k WHERE k.user_id = ANY($1::uuid[]) AND k.key = ANY($2::text[])) AS idem,
  (SELECT json_agg(json_build_object('id', c.id, 'status', c.status, 'role', c.role))
     FROM users c WHERE c.id = ANY($3::uuid[])) AS users,
  (SELECT json_agg(json_build_object('id', w.id, 'userId', w.user_id, 'currency', w.currency,
                   'balance', w.balance::text, 'held', w.held::text, 'version', w.version,
                   'userStatus', (SELECT u.status FROM users u WHERE u.id = w.user_id)))
     FROM wallets w
    WHERE w.id = ANY(ARRAY(SELECT o.id FROM wallets o WHERE o.user_id = ANY($3::uuid[])
                           UNION SELECT unnest($4::uuid[])
                           UNION SELECT x.source_wallet_id FROM transactions x WHERE x.id = ANY($5::uuid[])
                           UNION SELECT x.destination_wallet_id FROM transactions x WHERE x.id = ANY($5::uuid[])))) AS wallets,
  (SELECT json_agg(${TX_JSON}) FROM transactions t WHERE t.id = ANY($5::uuid[])) AS txs`;

export function readStatement(q: StateQuery): Statement {
  return {
    text: READ,
    values: [
      q.keys.map((k) => k.caller),
      q.keys.map((k) => k.key),
      [...new Set(q.userIds)],
      [...new Set(q.walletIds)],
      [...new Set(q.transactionIds)],
    ],
  };
}

/** The locked path: the wallets locked in ascending id order inside a transaction, before the read. */
export function lockStatement(walletIds: string[]): Statement {
  return {
    text: `SELECT id FROM wallets WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`,
    values: [[...new Set(walletIds)]],
  };
}
