/**
 * The windows of spending limits (contract v1.2): PER_TRANSACTION caps one movement; the others are UTC
 * calendar windows. Shared by the limits API (which shows a window's start and reset) and the engine's rules.
 */
export const LIMIT_WINDOWS = ['PER_TRANSACTION', 'DAILY', 'WEEKLY', 'MONTHLY'] as const;
export type LimitWindow = (typeof LIMIT_WINDOWS)[number];
export type Period = Exclude<LimitWindow, 'PER_TRANSACTION'>;
export const PERIODS: readonly Period[] = ['DAILY', 'WEEKLY', 'MONTHLY'];

/** The start of the UTC calendar window holding `at`, in epoch milliseconds (windowOf(period, at).start). */
export function windowStart(period: Period, at: Date): number {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  if (period === 'MONTHLY') return Date.UTC(y, m, 1);
  const back = period === 'WEEKLY' ? (at.getUTCDay() + 6) % 7 : 0;
  return Date.UTC(y, m, at.getUTCDate() - back);
}

const DAY_MS = 86_400_000;

/** The UTC calendar window holding `at`: a day from 00:00Z, a week from Monday 00:00Z, a month from the 1st. */
export function windowOf(period: Period, at: Date): { start: Date; end: Date } {
  const start = windowStart(period, at);
  // UTC days have no daylight saving: a day or a week later is that many milliseconds later.
  const end =
    period === 'MONTHLY'
      ? Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)
      : start + (period === 'WEEKLY' ? 7 : 1) * DAY_MS;
  return { start: new Date(start), end: new Date(end) };
}
