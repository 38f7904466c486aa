import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { isConnectionFailure, READ_ONLY_TRANSACTION, sqlState } from './pg-errors';

/** "recovery is in progress" (a WAL control function on a standby) is 55000. */
const OBJECT_NOT_IN_PREREQUISITE_STATE = '55000';

/** First pause after a failure, doubled each time up to PAUSE_MAX_MS (with jitter). */
const PAUSE_MS = 100;
const PAUSE_MAX_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Whether a failure is the primary changing hands (a switchover or a failover): the write reached a
 * server that has just turned read-only (25006) or is still in recovery (55000 from a WAL function), its session was ended by a shutdown (57P01 admin_shutdown,
 * 57P02) or the server is starting or stopping (57P03), or the connection was refused, reset, cut or not
 * accepted in time (haproxy holds a new connection while no server answers its /primary check, then
 * closes it). Not a move: a pool checkout timeout (every pooled connection busy: waiting longer helps
 * nobody), a full server (53300), a busy row lock.
 */
export function primaryMoving(error: unknown): boolean {
  const code = sqlState(error);
  if (code === READ_ONLY_TRANSACTION) return true;
  const message = error instanceof Error ? error.message : '';
  // A WAL function on a standby (pg_current_wal_lsn() after a write, write-positions.ts): the connection
  // reached a server still in recovery, not (yet) the primary, as 25006 says for a write. The Patroni
  // failover test saw it answered 500 when a new connection met the promoted node before it was promoted.
  if (code === OBJECT_NOT_IN_PREREQUISITE_STATE && /recovery is in progress/i.test(message)) return true;
  // pg-pool's checkout timeout (every pooled connection busy: the primary is where it was), and a pool
  // ended by this instance's own shutdown.
  if (/timeout exceeded when trying to connect|Cannot use a pool after calling end/i.test(message))
    return false;
  return isConnectionFailure(error);
}

/**
 * Runs `work` again while it fails because the primary is moving, pausing between attempts, for at most
 * `maxMs` after the first failure: a switchover (a few seconds) is then invisible to the caller, who gets
 * the answer from the new leader. Past the bound, the last error is thrown (503 with Retry-After).
 *
 * Only for work that is safe to run twice. The engine's attempt is: it reads the Idempotency-Key first, and
 * its write inserts the key in the same statement as the movement, so a first attempt that committed
 * although its answer was lost (a COMMIT acknowledged locally just before the shutdown) makes the second
 * a replay (the key is found) or a conflict (the key's primary key, or a wallet version, has moved), never
 * a second movement.
 */
export async function holdForPrimary<T>(
  work: () => Promise<T>,
  maxMs: number,
  onHold?: (error: unknown) => void,
): Promise<T> {
  let deadline: number | undefined;
  for (let n = 0; ; n++) {
    try {
      return await work();
    } catch (err) {
      if (maxMs <= 0 || !primaryMoving(err)) throw err;
      if (deadline === undefined) {
        deadline = Date.now() + maxMs;
        onHold?.(err);
      }
      const pause = Math.min(PAUSE_MAX_MS, PAUSE_MS * 2 ** n) * (0.5 + Math.random() / 2);
      if (Date.now() + pause > deadline) throw err;
      await sleep(pause);
    }
  }
}

/**
 * holdForPrimary with the configured bound (DB_PRIMARY_WAIT_MS; 0 turns it off), for the engine's attempts
 * and the read-your-writes position noted after a write.
 */
@Injectable()
export class PrimaryHold {
  private readonly logger = new Logger('Database');
  private readonly maxMs: number;
  /** When the last hold started, to log one line per episode rather than one per request. */
  private lastLogged = 0;

  constructor(config: AppConfig) {
    this.maxMs = config.env.DB_PRIMARY_WAIT_MS;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    return holdForPrimary(work, this.maxMs, (err) => {
      const now = Date.now();
      if (now - this.lastLogged < this.maxMs) return;
      this.lastLogged = now;
      const reason = err instanceof Error ? err.message : String(err);
      this.logger.warn(`the primary is away (${reason}): writes wait up to ${this.maxMs} ms for it`);
    });
  }
}
