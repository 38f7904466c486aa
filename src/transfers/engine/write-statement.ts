import { eventInsert, eventInsertArrays } from '../../events/outbox';
import { TX_INSERT_COLUMNS, txInsertArrays, txUnnest } from '../transaction.record';
import type { Period, WritePlan } from './engine.types';
import { namedStatement } from './named-params';

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
 * 4. Limit usage and monitors (`mu`) are written only with a change of their wallet, and every other writer
 *    of them (limits PUT, monitor creation and deletion) bumps the wallet's version under its lock: a usage
 *    or a monitor the rules did not see fails the version check like a balance. The window the wallet's
 *    row keeps per period is set by `upd` with the balance, as the rules left it; a window that ended when
 *    the next began is stored (`ue`), and a hold's give-back to a stored window is added to it (`ug`).
 *
 * Parameters are named (named-params.ts): the text refers to them by name, the values are given by name.
 */
const TX_ARRAYS = txInsertArrays([]).length;

const WRITE = namedStatement(
  {
    walletIds: 'uuid[]',
    walletVersions: 'int[]',
    walletBalanceDeltas: 'numeric[]',
    walletHeldDeltas: 'numeric[]',
    walletRequireActive: 'boolean[]',
    dailyStarts: 'float8[]',
    dailyAmounts: 'numeric[]',
    dailyCounts: 'int[]',
    weeklyStarts: 'float8[]',
    weeklyAmounts: 'numeric[]',
    weeklyCounts: 'int[]',
    monthlyStarts: 'float8[]',
    monthlyAmounts: 'numeric[]',
    monthlyCounts: 'int[]',
    settleIds: 'uuid[]',
    settleStatuses: 'text[]',
    settleAmounts: 'numeric[]',
    settleReasons: 'text[]',
    settleAt: 'timestamptz[]',
    actors: 'uuid[]',
    admins: 'uuid[]',
    now: 'timestamptz',
    tx: TX_ARRAYS,
    ledgerWallets: 'uuid[]',
    ledgerTransactions: 'uuid[]',
    ledgerAmounts: 'numeric[]',
    ledgerBalancesAfter: 'numeric[]',
    keyCallers: 'uuid[]',
    keys: 'text[]',
    keyHashes: 'text[]',
    keyStatuses: 'int[]',
    keyResponses: 'json[]',
    keyTransactions: 'uuid[]',
    refundIds: 'uuid[]',
    refundExpected: 'numeric[]',
    refundNext: 'numeric[]',
    metaWallets: 'uuid[]',
    metaKeys: 'text[]',
    metaValues: 'text[]',
    metaTransactions: 'uuid[]',
    endedWallets: 'uuid[]',
    endedPeriods: 'text[]',
    endedStarts: 'timestamptz[]',
    endedAmounts: 'numeric[]',
    endedCounts: 'int[]',
    giveBackWallets: 'uuid[]',
    giveBackPeriods: 'text[]',
    giveBackStarts: 'timestamptz[]',
    giveBackAmounts: 'numeric[]',
    giveBackCounts: 'int[]',
    monitorIds: 'uuid[]',
    monitorMet: 'boolean[]',
    monitorTriggeredAt: 'timestamptz[]',
    events: 5,
  },
  (p) => `WITH
  v(id, version, dbal, dheld, active, ds, da, dc, ws, wa, wc, ms, ma, mc) AS (
    SELECT * FROM unnest(${p.walletIds}, ${p.walletVersions}, ${p.walletBalanceDeltas}, ${p.walletHeldDeltas}, ${p.walletRequireActive},
                         ${p.dailyStarts}, ${p.dailyAmounts}, ${p.dailyCounts}, ${p.weeklyStarts}, ${p.weeklyAmounts}, ${p.weeklyCounts},
                         ${p.monthlyStarts}, ${p.monthlyAmounts}, ${p.monthlyCounts})),
  lk AS (SELECT w.id, w.version, w.user_id FROM wallets w WHERE w.id = ANY(${p.walletIds}) ORDER BY w.id FOR NO KEY UPDATE),
  bad AS (
    SELECT v.id FROM v LEFT JOIN lk ON lk.id = v.id
     WHERE lk.id IS NULL OR lk.version <> v.version
        OR (v.active AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = lk.user_id AND u.status = 'ACTIVE'))),
  pend AS (SELECT t.id FROM transactions t WHERE t.id = ANY(${p.settleIds}) AND t.status = 'PENDING'
            ORDER BY t.id FOR NO KEY UPDATE),
  rlk AS (SELECT t.id, t.refunded_amount FROM transactions t WHERE t.id = ANY(${p.refundIds}) AND t.status = 'COMPLETED'
           ORDER BY t.id FOR NO KEY UPDATE),
  rok AS (SELECT count(*) AS n FROM unnest(${p.refundIds}, ${p.refundExpected}) r(id, expected)
            JOIN rlk ON rlk.id = r.id AND rlk.refunded_amount = r.expected),
  who AS (SELECT count(*) AS n FROM users u
           WHERE u.id = ANY(${p.actors}) AND u.status = 'ACTIVE' AND (u.role = 'ADMIN' OR NOT u.id = ANY(${p.admins}))),
  ok AS (SELECT (SELECT count(*) FROM bad) = 0 AS wallets_ok,
                (SELECT count(*) FROM pend) = cardinality(${p.settleIds})
                  AND (SELECT n FROM rok) = cardinality(${p.refundIds}) AS settles_ok,
                (SELECT n FROM who) = cardinality(${p.actors}) AS actors_ok),
  go AS (SELECT true AS go FROM ok WHERE wallets_ok AND settles_ok AND actors_ok),
  upd AS (
    UPDATE wallets w SET balance = w.balance + v.dbal, held = w.held + v.dheld, version = w.version + 1,
           updated_at = ${p.now}, daily_start = to_timestamp(v.ds / 1000), daily_amount = v.da, daily_count = v.dc,
           weekly_start = to_timestamp(v.ws / 1000), weekly_amount = v.wa, weekly_count = v.wc,
           monthly_start = to_timestamp(v.ms / 1000), monthly_amount = v.ma, monthly_count = v.mc
      FROM v, go WHERE w.id = v.id AND w.id = ANY(${p.walletIds})
    RETURNING w.id),
  tu AS (
    UPDATE transactions t SET status = s.status, amount = s.amount, failure_reason = s.reason, completed_at = s.at
      FROM unnest(${p.settleIds}, ${p.settleStatuses}, ${p.settleAmounts}, ${p.settleReasons}, ${p.settleAt}) s(id, status, amount, reason, at), go
     WHERE t.id = s.id AND t.id = ANY(${p.settleIds})
    RETURNING t.id),
  ti AS (
    INSERT INTO transactions (${TX_INSERT_COLUMNS})
    SELECT x.* FROM ${txUnnest(placeholders(p.tx, TX_ARRAYS))} x, go
    RETURNING id, seq),
  ru AS (
    UPDATE transactions t SET refunded_amount = r.next
      FROM unnest(${p.refundIds}, ${p.refundNext}) r(id, next), go
     WHERE t.id = r.id AND t.id = ANY(${p.refundIds})
    RETURNING t.id),
  tm AS (
    INSERT INTO transaction_metadata (wallet_id, key, value, seq, transaction_id)
    SELECT m.w, m.k, m.v, ti.seq, m.t
      FROM unnest(${p.metaWallets}, ${p.metaKeys}, ${p.metaValues}, ${p.metaTransactions}) m(w, k, v, t)
      JOIN ti ON ti.id = m.t),
  le AS (
    INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after, created_at)
    SELECT e.w, e.t, e.a, e.b, ${p.now}
      FROM unnest(${p.ledgerWallets}, ${p.ledgerTransactions}, ${p.ledgerAmounts}, ${p.ledgerBalancesAfter}) e(w, t, a, b), go),
  ik AS (
    INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, transaction_id, created_at)
    SELECT k.u, k.k, k.h, k.s, k.r, k.t, ${p.now}
      FROM unnest(${p.keyCallers}, ${p.keys}, ${p.keyHashes}, ${p.keyStatuses}, ${p.keyResponses}, ${p.keyTransactions})
           k(u, k, h, s, r, t), go),
  ue AS (
    INSERT INTO wallet_limit_usage (wallet_id, period, period_start, used_amount, used_count)
    SELECT e.w, e.p, e.s, e.a, e.c
      FROM unnest(${p.endedWallets}, ${p.endedPeriods}, ${p.endedStarts}, ${p.endedAmounts}, ${p.endedCounts}) e(w, p, s, a, c), go),
  ug AS (
    UPDATE wallet_limit_usage u SET used_amount = u.used_amount + g.a, used_count = u.used_count + g.c
      FROM unnest(${p.giveBackWallets}, ${p.giveBackPeriods}, ${p.giveBackStarts}, ${p.giveBackAmounts}, ${p.giveBackCounts})
           g(w, p, s, a, c), go
     WHERE u.wallet_id = g.w AND u.period = g.p AND u.period_start = g.s),
  mu AS (
    UPDATE wallet_monitors m SET met = x.met, last_triggered_at = x.at
      FROM unnest(${p.monitorIds}, ${p.monitorMet}, ${p.monitorTriggeredAt}) x(id, met, at), go
     WHERE m.id = x.id),
  ev AS (${eventInsert(p.events, p.now, 'go')})
SELECT CASE WHEN ok.wallets_ok AND ok.settles_ok AND ok.actors_ok THEN true
            ELSE hfts_write_conflict(
                   CASE WHEN NOT ok.wallets_ok THEN 'version' WHEN NOT ok.settles_ok THEN 'settled' ELSE 'actor' END,
                   (SELECT array_agg(id::text) FROM bad)) END AS ok
  FROM ok`,
);

function placeholders(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `$${from + i}`);
}

export function writeStatement(plan: WritePlan): Statement {
  const w = plan.wallets;
  const s = plan.settles;
  const l = plan.ledger;
  const k = plan.idempotency;
  const kept = (period: Period) => ({
    // Epoch milliseconds (a window starts at a whole UTC day: exact as a double): no toISOString per write.
    starts: w.map((x) => x.windows[period]?.start.getTime() ?? null),
    amounts: w.map((x) => x.windows[period]?.amount.toFixed4() ?? null),
    counts: w.map((x) => x.windows[period]?.count ?? null),
  });
  const [daily, weekly, monthly] = [kept('DAILY'), kept('WEEKLY'), kept('MONTHLY')];
  const e = plan.ended;
  const g = plan.giveBacks;
  const m = plan.monitors;
  const meta = metadataRows(plan);
  return {
    text: WRITE.text,
    values: WRITE.values({
      walletIds: w.map((x) => x.id),
      walletVersions: w.map((x) => x.version),
      walletBalanceDeltas: w.map((x) => x.balance.toFixed4()),
      walletHeldDeltas: w.map((x) => x.held.toFixed4()),
      walletRequireActive: w.map((x) => x.requireActive),
      dailyStarts: daily.starts,
      dailyAmounts: daily.amounts,
      dailyCounts: daily.counts,
      weeklyStarts: weekly.starts,
      weeklyAmounts: weekly.amounts,
      weeklyCounts: weekly.counts,
      monthlyStarts: monthly.starts,
      monthlyAmounts: monthly.amounts,
      monthlyCounts: monthly.counts,
      settleIds: s.map((x) => x.id),
      settleStatuses: s.map((x) => x.status),
      settleAmounts: s.map((x) => x.amount.toFixed4()),
      settleReasons: s.map((x) => x.failureReason),
      settleAt: s.map((x) => x.at.toISOString()),
      actors: [...new Set([...plan.mustBeActive, ...plan.mustBeAdmin])],
      admins: [...new Set(plan.mustBeAdmin)],
      now: plan.now.toISOString(),
      tx: txInsertArrays(plan.inserts),
      ledgerWallets: l.map((x) => x.walletId),
      ledgerTransactions: l.map((x) => x.transactionId),
      ledgerAmounts: l.map((x) => x.amount.toFixed4()),
      ledgerBalancesAfter: l.map((x) => x.balanceAfter.toFixed4()),
      keyCallers: k.map((x) => x.caller),
      keys: k.map((x) => x.key),
      keyHashes: k.map((x) => x.hash),
      keyStatuses: k.map((x) => x.status),
      keyResponses: k.map((x) => JSON.stringify(x.body)),
      keyTransactions: k.map((x) => x.transactionId),
      refundIds: plan.refunds.map((x) => x.id),
      refundExpected: plan.refunds.map((x) => x.expected.toFixed4()),
      refundNext: plan.refunds.map((x) => x.next.toFixed4()),
      metaWallets: meta.map((r) => r[0]),
      metaKeys: meta.map((r) => r[1]),
      metaValues: meta.map((r) => r[2]),
      metaTransactions: meta.map((r) => r[3]),
      endedWallets: e.map((x) => x.walletId),
      endedPeriods: e.map((x) => x.period),
      endedStarts: e.map((x) => x.start.toISOString()),
      endedAmounts: e.map((x) => x.amount.toFixed4()),
      endedCounts: e.map((x) => x.count),
      giveBackWallets: g.map((x) => x.walletId),
      giveBackPeriods: g.map((x) => x.period),
      giveBackStarts: g.map((x) => x.start.toISOString()),
      giveBackAmounts: g.map((x) => x.amount.toFixed4()),
      giveBackCounts: g.map((x) => x.count),
      monitorIds: m.map((x) => x.id),
      monitorMet: m.map((x) => x.met),
      monitorTriggeredAt: m.map((x) => x.lastTriggeredAt?.toISOString() ?? null),
      events: eventInsertArrays(plan.events),
    }),
  };
}

/** One index row per party wallet and metadata key of each new transaction: [wallet, key, value, tx]. */
function metadataRows(plan: WritePlan): Array<[string, string, string, string]> {
  const rows: Array<[string, string, string, string]> = [];
  for (const tx of plan.inserts) {
    for (const wallet of [tx.sourceWalletId, tx.destinationWalletId]) {
      if (!wallet) continue;
      for (const [key, value] of Object.entries(tx.metadata)) rows.push([wallet, key, value, tx.id]);
    }
  }
  return rows;
}
