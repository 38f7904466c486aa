import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { PrimaryHold } from './primary-hold';
import { lsnOf } from './replica-health';

const REDIS_KEY = 'hfts:rlsn:';

/**
 * Read-your-writes: after each write, the primary's pg_current_wal_lsn() for the writer, in memory and in
 * Redis (so that another instance behind the load balancer knows it too). The read router (replicas.ts)
 * sends that user's reads only to a replica that has replayed past it.
 */
export class WritePositions {
  private readonly logger = new Logger('Replicas');
  /** userId -> the primary's WAL position right after that user's last write, and when it was noted. */
  private readonly lastWrites = new Map<string, { lsn: bigint; at: number }>();
  private pendingLsn?: Promise<bigint>;
  private redisWarned = false;

  constructor(
    private readonly primary: () => Pool,
    private readonly redis: Redis | null,
    private readonly hold: PrimaryHold,
    /** How long a user's last write position is kept: past it, any replica allowed to serve has passed it. */
    private readonly rememberMs: number,
  ) {}

  /**
   * After a write by `userId` has committed: remember the primary's WAL position, so that this user's next
   * reads see it. Concurrent callers share one query, started after all of them committed.
   */
  async note(userId: string): Promise<void> {
    const lsn = await this.currentLsn();
    const known = this.lastWrites.get(userId);
    if (!known || known.lsn < lsn) this.lastWrites.set(userId, { lsn, at: Date.now() });
    if (!this.redis) return;
    try {
      // Keeps the larger of two positions written by two instances (Lua numbers are doubles: exact up to
      // 2^53 bytes of WAL, 9 PB).
      await this.redis.eval(
        `local c = redis.call('GET', KEYS[1])
         if (not c) or tonumber(c) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
         return 1`,
        1,
        `${REDIS_KEY}${userId}`,
        lsn.toString(),
        String(this.rememberMs),
      );
    } catch (err) {
      this.warnRedis(err);
    }
  }

  /** The position `userId`'s reads must see: the later of this instance's and the shared one. */
  async lastWriteOf(userId: string): Promise<bigint | undefined> {
    const local = this.lastWrites.get(userId)?.lsn;
    if (!this.redis) return local;
    try {
      const shared = await this.redis.get(`${REDIS_KEY}${userId}`);
      const remote = shared ? BigInt(shared) : undefined;
      if (remote === undefined) return local;
      return local === undefined || remote > local ? remote : local;
    } catch (err) {
      this.warnRedis(err);
      return local;
    }
  }

  /** Forgets the positions every replica has replayed (`replayedByAll`), and those kept long enough. */
  forget(replayedByAll: bigint | null): void {
    const now = Date.now();
    for (const [user, w] of this.lastWrites) {
      if ((replayedByAll !== null && w.lsn <= replayedByAll) || now - w.at > this.rememberMs) {
        this.lastWrites.delete(user);
      }
    }
  }

  /** One query for the primary's WAL position, shared by every caller that asked before it started. */
  private currentLsn(): Promise<bigint> {
    this.pendingLsn ??= new Promise<void>((started) => setImmediate(started)).then(async () => {
      this.pendingLsn = undefined;
      // The write has committed: a switchover now must not turn its answer into a 503.
      const rows = await this.hold.run(() =>
        this.primary().query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'),
      );
      return lsnOf(rows.rows[0].lsn);
    });
    return this.pendingLsn;
  }

  private warnRedis(err: unknown): void {
    if (this.redisWarned) return;
    this.redisWarned = true;
    this.logger.warn(
      `Redis unavailable for read-your-writes positions (this instance still keeps its own): ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
  }
}
