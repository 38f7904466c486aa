import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';

/** Events numbered by one run at most: a backlog drains in several quick runs, each a short transaction. */
const MAX_ROWS = 5000;

/**
 * Gives committed events their `sequence`, in commit order, every EVENTS_SEQUENCE_INTERVAL_MS. Every
 * instance runs it; the database function `hfts_sequence_events` (migration Events1764400000000) lets one
 * run at a time proceed, under an advisory lock, and numbers after the highest number given so far, so a
 * number is never given below one a reader may already have seen.
 */
@Injectable()
export class EventSequencer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(EventSequencer.name);
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One run: how many events it numbered (-1 when another run held the lock). */
  async run(): Promise<number> {
    const rows = await this.dataSource.query<Array<{ n: number }>>('SELECT hfts_sequence_events($1) AS n', [
      MAX_ROWS,
    ]);
    return rows[0].n;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let next = this.config.env.EVENTS_SEQUENCE_INTERVAL_MS;
    try {
      const n = await this.run();
      if (n === MAX_ROWS) next = 0; // a backlog: go on at once
      if (this.failing) this.logger.log('event sequencing works again');
      this.failing = false;
    } catch (err) {
      // The database is away (or shutting down): try again later, say so once.
      if (!this.failing && !this.stopped) {
        this.logger.warn(`event sequencing failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.failing = true;
      next = Math.max(next, 1000);
    }
    this.schedule(next);
  }
}
