/* global module */
'use strict';
// The money invariants as SQL, read straight from the tables: each query returns the rows that break
// its invariant, so every one must return no row. One copy, used by the tests (test/support/ledger-checks.ts),
// the fault harness (test/faults/support/harness.ts) and the benchmark (bench/money.mjs). Plain CommonJS
// so that jest and the ES-module bench load the same file.

/** Money is conserved per currency: the balances add up to the completed deposits less withdrawals. */
const CONSERVED_PER_CURRENCY = `SELECT c.currency FROM (SELECT DISTINCT currency FROM wallets) c
  WHERE (SELECT COALESCE(sum(balance), 0) FROM wallets WHERE currency = c.currency)
     <> (SELECT COALESCE(sum(CASE type WHEN 'DEPOSIT' THEN amount ELSE -amount END), 0) FROM transactions
          WHERE currency = c.currency AND status = 'COMPLETED' AND type IN ('DEPOSIT', 'WITHDRAWAL'))`;

/**
 * No balance below minus its overdraft limit, none NaN, no wallet holding more than its balance plus its
 * overdraft (or less than nothing): availableBalance never negative. (An admin may lower an overdraft below
 * what a wallet owes; the runs that check this never do.)
 */
const NO_NEGATIVE_BALANCE = `SELECT id FROM wallets
  WHERE balance = 'NaN' OR held < 0 OR balance < -overdraft_limit OR held > balance + overdraft_limit`;

/**
 * Each kept window's usage equals what counts in it (contract v1.2): completed transfers and withdrawals the
 * wallet sent, and its holds (pending ones in full, captured ones for what was captured), by creation time.
 * The windows kept on the wallets' rows and those stored when they ended, both (wallet_usage_windows).
 */
const USAGE_EQUALS_SPENDING = `SELECT u.wallet_id, u.period, u.period_start FROM wallet_usage_windows u
  LEFT JOIN LATERAL (
    SELECT COALESCE(sum(t.amount), 0) AS amount, count(*) AS n FROM transactions t
     WHERE t.source_wallet_id = u.wallet_id AND t.type IN ('TRANSFER', 'WITHDRAWAL')
       AND t.status IN ('COMPLETED', 'PENDING') AND t.created_at >= u.period_start
       AND t.created_at < u.period_start + CASE u.period WHEN 'DAILY' THEN interval '1 day'
                                                         WHEN 'WEEKLY' THEN interval '7 days' ELSE interval '1 month' END) s ON true
  WHERE u.used_amount <> s.amount OR u.used_count <> s.n`;

/**
 * Each wallet's rules (what the engine reads of its limits and monitors, kept on its row by the triggers of
 * migration 1765000000000) are what wallet_limits and wallet_monitors hold: a movement decided against
 * stale rules could pass a limit or miss a crossing.
 */
const RULES_MATCH_TABLES = `SELECT w.id FROM wallets w
  WHERE w.rules::text IS DISTINCT FROM hfts_wallet_rules(w.id)::text`;

/** Each balance equals the sum of its wallet's ledger entries. */
const BALANCE_EQUALS_LEDGER = `SELECT w.id FROM wallets w LEFT JOIN ledger_entries l ON l.wallet_id = w.id
  GROUP BY w.id, w.balance HAVING w.balance <> COALESCE(sum(l.amount), 0)`;

/** Each wallet's held amount equals the sum of its open (PENDING) holds. */
const HELD_EQUALS_OPEN_HOLDS = `SELECT w.id FROM wallets w
  LEFT JOIN transactions t ON t.source_wallet_id = w.id AND t.status = 'PENDING'
  GROUP BY w.id, w.held HAVING w.held <> COALESCE(sum(t.held_amount), 0)`;

/** Each completed movement has its ledger entries (two for a transfer or refund, one otherwise); others none. */
const COMPLETED_HAVE_ENTRIES = `SELECT t.id FROM transactions t LEFT JOIN ledger_entries l ON l.transaction_id = t.id
  GROUP BY t.id, t.status, t.type
  HAVING count(l.id) <> CASE WHEN t.status <> 'COMPLETED' THEN 0 WHEN t.type IN ('TRANSFER', 'REFUND') THEN 2 ELSE 1 END`;

/** The two entries of a transfer cancel out. */
const TRANSFER_ENTRIES_CANCEL = `SELECT transaction_id FROM ledger_entries
  GROUP BY transaction_id HAVING sum(amount) <> 0 AND count(*) = 2`;

/** All of the above, named, for callers that run them in turn. */
const MONEY_INVARIANTS = Object.freeze([
  { name: 'conserved per currency', sql: CONSERVED_PER_CURRENCY },
  { name: 'no balance below its overdraft', sql: NO_NEGATIVE_BALANCE },
  { name: 'each balance equals its ledger', sql: BALANCE_EQUALS_LEDGER },
  { name: 'held equals open holds', sql: HELD_EQUALS_OPEN_HOLDS },
  { name: 'each completed movement has its entries', sql: COMPLETED_HAVE_ENTRIES },
  { name: "a transfer's entries cancel out", sql: TRANSFER_ENTRIES_CANCEL },
  { name: "each window's usage equals what counts in it", sql: USAGE_EQUALS_SPENDING },
  { name: "each wallet's rules are its limits and monitors", sql: RULES_MATCH_TABLES },
]);

module.exports = {
  CONSERVED_PER_CURRENCY,
  NO_NEGATIVE_BALANCE,
  BALANCE_EQUALS_LEDGER,
  HELD_EQUALS_OPEN_HOLDS,
  COMPLETED_HAVE_ENTRIES,
  TRANSFER_ENTRIES_CANCEL,
  USAGE_EQUALS_SPENDING,
  RULES_MATCH_TABLES,
  MONEY_INVARIANTS,
};
