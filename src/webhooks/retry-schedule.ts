/**
 * When a failed delivery is tried again (docs/API.md "Events and webhooks"): about 5 s, 30 s, 2 min,
 * 10 min and 1 h after the failures before, then every 3 h until more than 24 h have passed since the
 * first attempt: 14 attempts over about 25 h 15 min. Each wait is jittered by ±20 % so that the retries of
 * many jobs that failed together (a receiver that was down) do not arrive together when it returns.
 */
const WAITS_SECONDS = [5, 30, 120, 600, 3600, ...Array<number>(8).fill(3 * 3600)];

/** Attempts a job gets in all: the first and one per wait. */
export const MAX_ATTEMPTS = WAITS_SECONDS.length + 1;

/** The nominal schedule, in seconds after the first attempt, of attempts 2..MAX_ATTEMPTS (for docs and tests). */
export function nominalScheduleSeconds(): number[] {
  let at = 0;
  return WAITS_SECONDS.map((w) => (at += w));
}

/**
 * Milliseconds to wait after failed attempt number `attempt` (1-based), or null when it was the last.
 * `scale` multiplies the schedule (WEBHOOK_RETRY_SCALE; tests shrink it); `random` is injectable for tests.
 */
export function retryDelayMs(
  attempt: number,
  scale: number,
  random: () => number = Math.random,
): number | null {
  const wait = WAITS_SECONDS[attempt - 1];
  if (wait === undefined) return null;
  const jitter = 0.8 + 0.4 * random();
  return Math.max(1, Math.round(wait * 1000 * scale * jitter));
}
