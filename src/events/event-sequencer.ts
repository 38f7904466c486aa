import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { OutboxSignal } from './outbox-signal';

/** Events numbered by one run at most: a backlog drains in several quick runs, each a short transaction. */
const MAX_ROWS = 5000;
/**
 * The slowest pace of an idle sequencer (issue 26: an idle instance sends at most one query a second, all its
 * pollers together). Every instance wakes its own sequencer after its own writes, so the idle pace only
 * bounds how long events of a write whose instance died before numbering them wait for another instance.
 */
const IDLE_MS = 2000;

/**
 * Gives committed events their `sequence`, in commit order. Every instance runs it; the database function
 * `hfts_sequence_events` (migration EventOrder1764500000000) lets one run at a time proceed, under an
 * advisory lock, numbers after the highest number given so far (a number is never given below one a reader
 * may already have seen), and notifies `hfts_events` when it numbered something (the relays listen).
 *
 * Pace: every EVENTS_SEQUENCE_INTERVAL_MS while runs find events or this instance writes (OutboxSignal);
 * when runs find nothing, the wait doubles up to IDLE_MS, so idle instances cost the database almost nothing.
 */
@Injectable()
export class EventSequencer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(EventSequencer.name);
  private timer?: NodeJS.Timeout;
  private dueAt = 0;
  private running = false;
  private kicked = false;
  private idleWait: number;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    outbox: OutboxSignal,
  ) {
    this.idleWait = config.env.EVENTS_SEQUENCE_INTERVAL_MS;
    outbox.onWritten(() => this.kick());
  }

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

  /** This instance wrote events: run within one interval, whatever the idle pace had reached. */
  private kick(): void {
    if (this.running) {
      this.kicked = true;
      return;
    }
    const interval = this.config.env.EVENTS_SEQUENCE_INTERVAL_MS;
    if (this.dueAt - Date.now() > interval) this.schedule(interval);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.dueAt = Date.now() + ms;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const interval = this.config.env.EVENTS_SEQUENCE_INTERVAL_MS;
    this.running = true;
    this.kicked = false;
    let next: number;
    try {
      const n = await this.run();
      if (n === MAX_ROWS)
        next = 0; // a backlog: go on at once
      else if (n !== 0 || this.kicked)
        next = interval; // busy here or elsewhere (-1: another run holds it)
      else next = Math.min(IDLE_MS, Math.max(interval, this.idleWait * 2)); // nothing found: slow down
      this.idleWait = next === 0 ? interval : next;
      if (this.failing) this.logger.log('event sequencing works again');
      this.failing = false;
    } catch (err) {
      // The database is away (or shutting down): try again later, say so once.
      if (!this.failing && !this.stopped) {
        this.logger.warn(`event sequencing failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.failing = true;
      next = IDLE_MS;
    } finally {
      this.running = false;
    }
    this.schedule(next);
  }
}
