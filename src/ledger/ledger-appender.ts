import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { EventWakeups } from '../events/relay/event-wakeups';
import { LedgerSigner } from './ledger-signer';

/** Leaves one pass adds at most: a backlog (a log switched on over old events) drains in short transactions. */
export const MAX_LEAVES = 10000;
/** Idle, without notifications (a transaction pooler, the listener down): at most one pass a second. */
const IDLE_CAP_MS = 1000;
/** Idle, listening: one pass now and then all the same (a notification lost in a failover). */
const IDLE_LISTENING_MS = 30000;

/**
 * Adds newly numbered events to the tree and signs the new head, every LEDGER_APPEND_INTERVAL_MS (at most a
 * second, so a growing tree gets a checkpoint at least once a second). Every instance with LEDGER_APPENDER
 * runs it; an advisory lock lets one pass at a time proceed per database. It reads events only after the
 * sequencer has numbered them, and writes only the ledger's tables, so a transfer never waits for it.
 *
 * Idle costs nothing (issue 26): once a pass finds no new event, the next one waits for the sequencer's
 * notification (EventWakeups), or, when notifications do not arrive, backs off to one pass a second.
 */
@Injectable()
export class LedgerAppender implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LedgerAppender.name);
  private timer?: NodeJS.Timeout;
  private dueAt = 0;
  private idleMs = 0;
  /** A notification came while a pass ran (it may not have seen those events yet). */
  private notified = false;
  private stopped = false;
  private failing = false;
  private running?: Promise<void>;

  constructor(
    private readonly config: AppConfig,
    private readonly signer: LedgerSigner,
    private readonly wakeups: EventWakeups,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.env.LEDGER_APPENDER) return;
    this.wakeups.subscribe(() => {
      // New events: append within one interval, whatever the idle pace had reached.
      const soon = this.config.env.LEDGER_APPEND_INTERVAL_MS;
      this.notified = true;
      if (this.running === undefined && this.dueAt - Date.now() > soon) this.schedule(soon);
      this.idleMs = 0;
    });
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass: the leaves it added (-1 when another pass held the lock). */
  run(): Promise<number> {
    return this.signer.store.appendPass(MAX_LEAVES, (size, root) => this.signer.sign(size, root));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.dueAt = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => (this.running = undefined));
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let next = this.config.env.LEDGER_APPEND_INTERVAL_MS;
    this.notified = false;
    try {
      const n = await this.run();
      if (n === MAX_LEAVES) next = 0;
      else if (n === 0 && !this.notified) {
        this.idleMs = this.wakeups.listening
          ? IDLE_LISTENING_MS
          : Math.min(IDLE_CAP_MS, Math.max(next, this.idleMs * 2));
        next = this.idleMs;
      } else this.idleMs = 0;
      if (this.failing) this.logger.log('ledger appending works again');
      this.failing = false;
    } catch (err) {
      // The database is away, or the stored tree disagrees with a checkpoint (then nothing is signed until
      // an operator has looked: npm run ledger:verify names the first bad leaf). Say so once.
      if (!this.failing && !this.stopped) {
        this.logger.error(`ledger appending failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.failing = true;
      next = Math.max(next, 1000);
    }
    this.schedule(next);
  }
}
