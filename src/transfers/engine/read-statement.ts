import { Money } from '../../common/money/money';
import { TX_JSON } from '../transaction.record';
import type { LimitWindow, MonitorState, Period, StateQuery, Usage, WalletState } from './engine.types';
import { usageKey } from './movement-rules.limits';
import type { Statement } from './write-statement';

/**
 * The read: every wallet, user, transaction and stored response a set of movements may look at, in one
 * round trip. Wallets come with their owner's status; the parties of the named transactions are included.
 *
 * A wallet comes with its limits, the window its row keeps per limited period (its latest: the engine counts
 * in it, or begins the next one) and its monitors, all from its own row, so a wallet costs the read one
 * index probe whatever rules it has:
 * - The kept windows are columns of the row, set by the write's UPDATE of it with the balance. They were
 *   rows of wallet_limit_usage, read by a probe of the usage key per limit and updated by a statement of
 *   their own: with a DAILY limit on every wallet, 300 transfers on one connection wrote 11.39 rows each that
 *   way, 10.32 now (10.30 without limits; bench/limits.mjs's counts). The windows that have ended stay in
 *   that table, which the read never touches (limits.spec.ts checks its plan).
 * - Limits and monitors are the row's `rules` (json, set by the triggers of wallet_limits and
 *   wallet_monitors: migration 1765000000000). As two subqueries per wallet they halved the rate of this
 *   read (pgbench, 20 wallets a read, each with a DAILY limit and a monitor: 2,400-3,400 reads/s, 4,100-5,800
 *   with the column, 5,900-7,100 with neither).
 * - Arrays, not objects, and times as epoch milliseconds: the service parses them on every read of a
 *   limited wallet, and keys, ISO strings and Date parsing were most of what limits cost its CPU (a profile
 *   of the uniform bench with a DAILY limit and a monitor on every wallet). A window starts at a whole UTC
 *   day, exact as a double: date_part, not the numeric extract.
 *
 * Both statements reach every table by `= ANY(array)` on a key, never by a join to unnest(): the prepared
 * statements run on generic plans, which planned such joins as hash joins over sequential scans of
 * idempotency_keys, wallets and users (3.7 ms per read at 10,000 wallets, and growing with the tables).
 */
/** A window's start as epoch milliseconds (a JSON number). */
const ms = (column: string) => `(date_part('epoch', ${column}) * 1000)::bigint`;

const READ = `SELECT
  (SELECT json_agg(json_build_object('caller', k.user_id, 'key', k.key, 'hash', k.request_hash,
                                     'status', k.status_code, 'body', k.response))
     FROM idempotency_keys k WHERE k.user_id = ANY($1::uuid[]) AND k.key = ANY($2::text[])) AS idem,
  (SELECT json_agg(json_build_object('id', c.id, 'status', c.status, 'role', c.role))
     FROM users c WHERE c.id = ANY($3::uuid[])) AS users,
  (SELECT json_agg(json_build_object('id', w.id, 'userId', w.user_id, 'currency', w.currency,
                   'balance', w.balance::text, 'held', w.held::text, 'version', w.version,
                   'userStatus', (SELECT u.status FROM users u WHERE u.id = w.user_id),
                   'overdraft', w.overdraft_limit::text,
                   'rules', w.rules,
                   'daily', CASE WHEN w.daily_start IS NOT NULL
                                 THEN json_build_array(${ms('w.daily_start')}, w.daily_amount::text, w.daily_count) END,
                   'weekly', CASE WHEN w.weekly_start IS NOT NULL
                                  THEN json_build_array(${ms('w.weekly_start')}, w.weekly_amount::text, w.weekly_count) END,
                   'monthly', CASE WHEN w.monthly_start IS NOT NULL
                                   THEN json_build_array(${ms('w.monthly_start')}, w.monthly_amount::text, w.monthly_count) END))
     FROM wallets w
    WHERE w.id = ANY(ARRAY(SELECT o.id FROM wallets o WHERE o.user_id = ANY($3::uuid[])
                           UNION SELECT unnest($4::uuid[])
                           UNION SELECT x.source_wallet_id FROM transactions x WHERE x.id = ANY($5::uuid[])
                           UNION SELECT x.destination_wallet_id FROM transactions x WHERE x.id = ANY($5::uuid[])))) AS wallets,
  (SELECT json_agg(${TX_JSON}) FROM transactions t WHERE t.id = ANY($5::uuid[])) AS txs`;

type KeptColumns = [startMs: number, amount: string, count: number];

type LimitColumns = [window: LimitWindow, maxAmount: string | null, maxCount: number | null];

type MonitorColumns = [
  id: string,
  field: MonitorState['field'],
  operator: MonitorState['operator'],
  value: string,
  description: string | null,
  met: boolean,
  createdAtMs: number,
  lastTriggeredAtMs: number | null,
];

/** A wallet of the read, as its JSON comes back. */
export interface WalletRow {
  id: string;
  userId: string;
  currency: string;
  balance: string;
  held: string;
  version: number;
  userStatus: string;
  overdraft: string;
  /** Limits and monitors (hfts_wallet_rules in migration 1765000000000); null: neither. */
  rules: [limits: LimitColumns[] | null, monitors: MonitorColumns[] | null] | null;
  /** The window the row keeps per period: [start, amount, count]. */
  daily: KeptColumns | null;
  weekly: KeptColumns | null;
  monthly: KeptColumns | null;
}

export function walletStateOf(w: WalletRow): WalletState {
  return {
    id: w.id,
    userId: w.userId,
    currency: w.currency,
    balance: Money.fromDb(w.balance),
    held: Money.fromDb(w.held),
    version: w.version,
    userStatus: w.userStatus,
    overdraft: Money.fromDb(w.overdraft),
    limits: (w.rules?.[0] ?? []).map(([window, maxAmount, maxCount]) => ({
      window,
      maxAmount: maxAmount === null ? null : Money.fromDb(maxAmount),
      maxCount,
    })),
    usage: keptUsage(w),
    monitors: (w.rules?.[1] ?? []).map(
      ([id, field, operator, value, description, met, createdAt, lastTriggeredAt]) => ({
        id,
        walletId: w.id,
        field,
        operator,
        value: Money.fromDb(value),
        description,
        met,
        createdAt: new Date(createdAt),
        lastTriggeredAt: lastTriggeredAt === null ? null : new Date(lastTriggeredAt),
      }),
    ),
  };
}

function keptUsage(w: WalletRow): Map<string, Usage> {
  const usage = new Map<string, Usage>();
  const keep = (period: Period, c: KeptColumns | null) => {
    if (c) usage.set(usageKey(period, c[0]), { amount: Money.fromDb(c[1]), count: c[2] });
  };
  keep('DAILY', w.daily);
  keep('WEEKLY', w.weekly);
  keep('MONTHLY', w.monthly);
  return usage;
}

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
