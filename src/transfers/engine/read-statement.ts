import { Money } from '../../common/money/money';
import { TX_JSON } from '../transaction.record';
import type { LimitWindow, MonitorState, Period, StateQuery, Usage, WalletState } from './engine.types';
import { usageKey } from './movement-rules.limits';
import type { Statement } from './write-statement';

/**
 * The read: every wallet, user, transaction and stored response a set of movements may look at, in one
 * round trip. Wallets come with their owner's status; the parties of the named transactions are included.
 *
 * A wallet comes with its limits, each with the usage rows of its current window (and of a next one already
 * begun: the minute of margin lets the rules' clock run behind the database's at a window's turn), and its
 * monitors. Usage is kept only for windows with a limit, so it is read through them: one probe of the usage
 * key (wallet, period, start) per limit. It was a join of the three periods to the usage rows found by wallet
 * alone, which read every past window's row (one more a day: 478 for a year, limits.spec.ts counts them now)
 * and cost more even with one row. Backend CPU of a read of 10 wallets, each with a DAILY limit and a monitor,
 * above the same read without limits and monitors (medians of 12 x 1,000 reads): 330 us with that join,
 * 270 us now; the rest is the limits', usage's and monitors' subquery per wallet (about 27 us a wallet).
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
                   'userStatus', (SELECT u.status FROM users u WHERE u.id = w.user_id),
                   'overdraft', w.overdraft_limit::text,
                   'limits', (SELECT json_agg(json_build_object('window', l.period, 'maxAmount', l.max_amount::text,
                                                                'maxCount', l.max_count,
                                'usage', (SELECT json_agg(json_build_object('start', u.period_start,
                                                                            'amount', u.used_amount::text, 'count', u.used_count))
                                            FROM wallet_limit_usage u
                                           WHERE u.wallet_id = l.wallet_id AND u.period = l.period
                                             AND u.period_start >= date_trunc(CASE l.period WHEN 'DAILY' THEN 'day'
                                                                        WHEN 'WEEKLY' THEN 'week' ELSE 'month' END,
                                                                   now() - interval '1 minute', 'UTC'))))
                                FROM wallet_limits l WHERE l.wallet_id = w.id),
                   'monitors', (SELECT json_agg(json_build_object('id', m.id, 'walletId', m.wallet_id, 'field', m.field,
                                  'operator', m.operator, 'value', m.value::text, 'description', m.description,
                                  'met', m.met, 'createdAt', m.created_at, 'lastTriggeredAt', m.last_triggered_at)
                                  ORDER BY m.created_at, m.id)
                                  FROM wallet_monitors m WHERE m.wallet_id = w.id)))
     FROM wallets w
    WHERE w.id = ANY(ARRAY(SELECT o.id FROM wallets o WHERE o.user_id = ANY($3::uuid[])
                           UNION SELECT unnest($4::uuid[])
                           UNION SELECT x.source_wallet_id FROM transactions x WHERE x.id = ANY($5::uuid[])
                           UNION SELECT x.destination_wallet_id FROM transactions x WHERE x.id = ANY($5::uuid[])))) AS wallets,
  (SELECT json_agg(${TX_JSON}) FROM transactions t WHERE t.id = ANY($5::uuid[])) AS txs`;

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
  limits: Array<{
    window: LimitWindow;
    maxAmount: string | null;
    maxCount: number | null;
    usage: Array<{ start: string; amount: string; count: number }> | null;
  }> | null;
  monitors: Array<
    Omit<MonitorState, 'value' | 'createdAt' | 'lastTriggeredAt'> & {
      value: string;
      createdAt: string;
      lastTriggeredAt: string | null;
    }
  > | null;
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
    limits: (w.limits ?? []).map((l) => ({
      window: l.window,
      maxAmount: l.maxAmount === null ? null : Money.fromDb(l.maxAmount),
      maxCount: l.maxCount,
    })),
    usage: new Map(
      (w.limits ?? []).flatMap((l) =>
        (l.usage ?? []).map((u): [string, Usage] => [
          usageKey(l.window as Period, new Date(u.start)),
          { amount: Money.fromDb(u.amount), count: u.count },
        ]),
      ),
    ),
    monitors: (w.monitors ?? []).map((m) => ({
      ...m,
      value: Money.fromDb(m.value),
      createdAt: new Date(m.createdAt),
      lastTriggeredAt: m.lastTriggeredAt === null ? null : new Date(m.lastTriggeredAt),
    })),
  };
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
