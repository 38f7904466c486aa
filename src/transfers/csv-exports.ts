import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Pool, type PoolClient } from 'pg';
import { AppError } from '../common/errors/error-codes';
import { AppConfig } from '../config/app-config';
import { primaryPoolConfig } from '../database/pools';
import { ReadRouter } from '../database/replicas';
import { databaseSettings } from '../database/settings';

/** Seconds a refused export is told to wait: an account statement of tens of thousands of rows streams in a few. */
const RETRY_AFTER_SECONDS = 5;

/**
 * The bounds on CSV exports, which hold a connection for as long as their reader takes (issue 21: ten
 * exports that were never read took the whole pool, and every other request of the instance got 503).
 *  - At most EXPORTS_PER_USER at once per user and EXPORTS_PER_INSTANCE per instance; past either,
 *    429 RATE_LIMITED with Retry-After, before any query runs.
 *  - On the primary they stream from a pool of their own with EXPORTS_PER_INSTANCE connections, so that
 *    money movements and other reads never wait behind them; a streaming replica, when the ReadRouter
 *    picks one, serves them from its pool.
 *  - A reader that stops draining its socket for EXPORT_STALL_TIMEOUT_MS is cut off, and its connection
 *    and its place go back. A slow database is not a stalled reader: only a socket whose buffer stays full
 *    counts.
 * The counts are per instance: a user behind a load balancer may hold that many on each instance.
 */
@Injectable()
export class CsvExports implements OnApplicationShutdown {
  private readonly logger = new Logger('CsvExports');
  private readonly pool: Pool;
  private readonly perUser: number;
  private readonly perInstance: number;
  private readonly stallMs: number;
  private running = 0;
  private readonly byUser = new Map<string, number>();

  constructor(
    config: AppConfig,
    private readonly reads: ReadRouter,
  ) {
    const e = config.env;
    this.perUser = e.EXPORTS_PER_USER;
    this.perInstance = e.EXPORTS_PER_INSTANCE;
    this.stallMs = e.EXPORT_STALL_TIMEOUT_MS;
    this.pool = new Pool(primaryPoolConfig(databaseSettings(config), this.perInstance, 'hfts-export'));
    this.pool.on('error', () => undefined); // an idle connection lost: the next export opens another
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }

  /** Takes a place for an export by `userId`, or refuses; the function returned gives it back (once). */
  begin(userId: string): () => void {
    const mine = this.byUser.get(userId) ?? 0;
    if (mine >= this.perUser) {
      throw new AppError('RATE_LIMITED', `At most ${this.perUser} CSV exports at once per user`, {
        retryAfter: RETRY_AFTER_SECONDS,
      });
    }
    if (this.running >= this.perInstance) {
      throw new AppError('RATE_LIMITED', 'Too many CSV exports in progress; retry shortly', {
        retryAfter: RETRY_AFTER_SECONDS,
      });
    }
    this.running += 1;
    this.byUser.set(userId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      const left = (this.byUser.get(userId) ?? 1) - 1;
      if (left > 0) this.byUser.set(userId, left);
      else this.byUser.delete(userId);
    };
  }

  /** A connection for one export: a replica's when the ReadRouter picks one, else the export pool's. */
  async connect(readerId: string): Promise<PoolClient> {
    return (await this.reads.connect(readerId, this.pool)).client;
  }

  /**
   * Gives the place back when `csv` closes (read to the end, failed, or destroyed with its response), and
   * cuts off the connection of a reader whose `socket` has not drained for EXPORT_STALL_TIMEOUT_MS.
   */
  watch(csv: Readable, release: () => void, socket: Socket | undefined): Readable {
    csv.once('close', release);
    if (!socket) return csv;
    let fullSince: number | undefined;
    const drained = (): void => {
      fullSince = undefined;
    };
    const timer = setInterval(
      () => {
        if (!socket.writableNeedDrain) return drained();
        fullSince ??= Date.now();
        if (Date.now() - fullSince < this.stallMs) return;
        this.logger.warn(`CSV export cut off: its reader did not drain the socket for ${this.stallMs} ms`);
        socket.destroy();
      },
      Math.min(1000, this.stallMs / 4),
    );
    timer.unref();
    socket.on('drain', drained);
    csv.once('close', () => {
      clearInterval(timer);
      socket.off('drain', drained);
    });
    return csv;
  }
}
