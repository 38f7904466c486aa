import { Money } from '../../common/money/money';
import {
  LIMIT_WINDOWS,
  PERIODS,
  type LimitWindow,
  type Period,
  windowOf,
  windowStart,
} from '../../wallets/limits/limit-windows';
import type { KeptWindows, LimitRule, Usage, UsageDelta, WalletState } from './engine.types';

/**
 * Spending limits (contract v1.2): which window a moment falls in, whether a movement would break a
 * limit, and what it adds to or gives back to the windows. Pure, like every rule.
 */

/** The order limits are checked in: the first broken one is the one the refusal names. */
export const LIMIT_ORDER: readonly LimitWindow[] = LIMIT_WINDOWS;

/**
 * A window's key in a wallet's usage: its period and its start in epoch milliseconds. Numbers, not ISO
 * strings: the engine makes and reads these keys several times per movement (toISOString and parsing the
 * string back were 6.5 us of a transfer between two limited wallets in a CPU profile of the service).
 */
export function usageKey(period: Period, start: Date | number): string {
  return `${period}@${typeof start === 'number' ? start : start.getTime()}`;
}

/** The period and start (epoch milliseconds) a usageKey names. */
export function windowOfKey(key: string): { period: Period; start: number } {
  const at = key.indexOf('@');
  return { period: key.slice(0, at) as Period, start: Number(key.slice(at + 1)) };
}

/** The latest window per period of a wallet's usage: what its row keeps. */
export function keptWindows(usage: Map<string, Usage>): KeptWindows {
  const kept: KeptWindows = { DAILY: null, WEEKLY: null, MONTHLY: null };
  const starts: Record<Period, number> = { DAILY: -Infinity, WEEKLY: -Infinity, MONTHLY: -Infinity };
  for (const [key, u] of usage) {
    const { period, start } = windowOfKey(key);
    if (start > starts[period]) {
      starts[period] = start;
      kept[period] = { start: new Date(start), amount: u.amount, count: u.count };
    }
  }
  return kept;
}

/** The latest start of a window the wallets keep: a clock behind another instance's must not go before it. */
export function latestWindowStart(wallets: Iterable<WalletState>): number {
  let latest = 0;
  for (const w of wallets) {
    for (const key of w.usage.keys()) latest = Math.max(latest, windowOfKey(key).start);
  }
  return latest;
}

/** What the wallet has used in the window holding `at` (nothing when no row was read for it). */
export function usageAt(w: WalletState, period: Period, at: Date): Usage {
  return w.usage.get(usageKey(period, windowStart(period, at))) ?? { amount: Money.ZERO, count: 0 };
}

/** The `limit` member of a LIMIT_EXCEEDED body: the broken limit as it stood before the movement. */
export interface LimitBody {
  window: LimitWindow;
  maxAmount: string | null;
  maxCount: number | null;
  usedAmount: string | null;
  usedCount: number | null;
  resetsAt: string | null;
}

/** The first limit (in LIMIT_ORDER) that spending `amount` now would break, or nothing. */
export function brokenLimit(w: WalletState, amount: Money, now: Date): LimitBody | undefined {
  for (const window of LIMIT_ORDER) {
    const rule = w.limits.find((l) => l.window === window);
    if (!rule) continue;
    if (window === 'PER_TRANSACTION') {
      if (rule.maxAmount && amount.gt(rule.maxAmount)) return body(rule, null, null);
      continue;
    }
    const used = usageAt(w, window, now);
    const overAmount = rule.maxAmount !== null && used.amount.plus(amount).gt(rule.maxAmount);
    const overCount = rule.maxCount !== null && used.count + 1 > rule.maxCount;
    if (overAmount || overCount) return body(rule, used, windowOf(window, now).end);
  }
  return undefined;
}

function body(rule: LimitRule, used: Usage | null, resetsAt: Date | null): LimitBody {
  return {
    window: rule.window,
    maxAmount: rule.maxAmount?.toFixed4() ?? null,
    maxCount: rule.maxCount,
    usedAmount: used ? used.amount.toFixed4() : null,
    usedCount: used ? used.count : null,
    resetsAt: resetsAt?.toISOString() ?? null,
  };
}

/**
 * What a movement counts in the wallet's windows that have a limit: `amount` and `count` in each window
 * holding `at`. A spend counts (+amount, +1) now; a hold gives back (-amount, -1 or 0) to the windows of its
 * creation. Windows without a limit are not kept (PUT recomputes them from history when one is set).
 */
export function usageDeltas(w: WalletState, amount: Money, count: number, at: Date): UsageDelta[] {
  if (amount.isZero() && count === 0) return [];
  return PERIODS.filter((p) => w.limits.some((l) => l.window === p)).map((period) => ({
    walletId: w.id,
    period,
    start: new Date(windowStart(period, at)),
    amount,
    count,
  }));
}
