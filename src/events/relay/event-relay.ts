import {
  type BeforeApplicationShutdown,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { EventWakeups } from './event-wakeups';
import { NatsPublisher } from './nats-publisher';
import { type BatchResult, PublishError, type RelayEvent, RelayStore } from './relay-store';
import { RelayMetrics } from './relay.metrics';

/** Without notifications (a transaction pooler, or the listener down), an idle relay probes at most this often. */
const IDLE_CAP_MS = 1000;
/** With notifications, an idle relay still probes this often (a notification lost in a failover). */
const IDLE_LISTENING_MS = 30000;
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 2000;
const ACK_TIMEOUT_MS = 5000;
/** On shutdown, a pass in flight gets this long to finish before the NATS connection is closed under it. */
const SHUTDOWN_WAIT_MS = 3000;

/**
 * Relays numbered events from the outbox to NATS JetStream (contract v1.1), when NATS_URL is set: a
 * background loop that nothing on the request path awaits, so a NATS server that is down or slow never
 * fails or slows a money movement: the outbox grows (events_outbox_lag_seconds) and drains when NATS is
 * back. Each pass, under the stream's cursor row (RelayStore.pass), publishes the next events in sequence
 * order, waits for their PubAcks and moves the cursor past the acknowledged ones; failures back off
 * exponentially with full jitter. At least once: a crash between the PubAcks and the cursor update sends
 * those events again, and JetStream drops them by Nats-Msg-Id within its duplicate window.
 */
@Injectable()
export class EventRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(EventRelay.name);
  private store?: RelayStore;
  private publisher?: NatsPublisher;
  private loop?: Promise<void>;
  private stopped = false;
  private wake?: () => void;
  /** A notification came (or the listener reconnected) since the relay last looked. */
  private notified = false;
  private published = 0;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: RelayMetrics,
    private readonly wakeups: EventWakeups,
  ) {}

  onApplicationBootstrap(): void {
    const e = this.config.env;
    if (!e.NATS_URL) return;
    this.store = RelayStore.onSameDatabase(this.dataSource, e.NATS_STREAM);
    this.publisher = new NatsPublisher(
      {
        servers: e.NATS_URL,
        stream: e.NATS_STREAM,
        subjectPrefix: e.NATS_SUBJECT_PREFIX,
        duplicateWindowMs: e.NATS_DUPLICATE_WINDOW_MS,
        ackTimeoutMs: ACK_TIMEOUT_MS,
      },
      (up) => {
        this.metrics.connected.set(up ? 1 : 0);
        if (up) this.logger.log(`connected to NATS; relaying events to stream ${e.NATS_STREAM}`);
        else this.logger.warn('NATS connection lost: events wait in the outbox until it is back');
      },
    );
    const store = this.store;
    this.metrics.register(() => store.lag().catch(() => undefined));
    this.metrics.connected.set(0);
    this.wakeups.subscribe(() => {
      this.notified = true;
      this.wake?.();
    });
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.loop) return;
    this.stopped = true;
    this.wake?.();
    const finished = await Promise.race([this.loop.then(() => true), sleep(SHUTDOWN_WAIT_MS, false)]);
    await this.publisher?.close();
    if (!finished) await this.loop;
    await this.store?.close();
  }

  /**
   * The loop's pace (issue 26: idle costs nothing). While passes relay events: every NATS_RELAY_INTERVAL_MS
   * (at once for a full batch). Once a pass finds nothing, idle: the next pass comes when the sequencer
   * notifies new events; meanwhile one cheap probe (one statement) every 30 s, or, when notifications do
   * not arrive (DB_POOLER=transaction, listener down), a probe whose interval doubles up to one second.
   */
  private async run(): Promise<void> {
    const e = this.config.env;
    let failures = 0;
    let cursorReady = false;
    let idleMs = 0;
    while (!this.stopped) {
      let waitMs = e.NATS_RELAY_INTERVAL_MS;
      try {
        if (!cursorReady) {
          await this.store!.ensureCursor();
          cursorReady = true;
        }
        const notified = this.notified;
        this.notified = false;
        if (idleMs > 0 && !notified && !(await this.store!.behind())) {
          idleMs = this.wakeups.listening ? IDLE_LISTENING_MS : Math.min(IDLE_CAP_MS, idleMs * 2);
          waitMs = idleMs;
        } else {
          await this.ready();
          const n = await this.store!.pass(e.NATS_RELAY_BATCH, (rows) => this.publish(rows));
          if (n === e.NATS_RELAY_BATCH) waitMs = 0; // a backlog: go on at once
          // Nothing to relay (or another instance relays): idle until notified.
          idleMs = n > 0 ? 0 : this.wakeups.listening ? IDLE_LISTENING_MS : e.NATS_RELAY_INTERVAL_MS;
          if (idleMs > 0) waitMs = idleMs;
        }
        if (failures > 0) this.logger.log('relaying events to NATS again');
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        const stage =
          err instanceof NotReady ? 'connect' : err instanceof PublishError ? 'publish' : 'database';
        this.metrics.errors.inc({ stage });
        // Said once per outage, not on every retry.
        if (failures === 0) this.logger.warn(`event relay paused (${stage}): ${message(err)}`);
        failures += 1;
        waitMs = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures, 16));
      }
      // A pass that relayed part of a batch waits out the interval even when notified: under load the
      // sequencer notifies every few milliseconds, and a pass per notification relayed a handful of events
      // for five statements and a round of PubAcks each (0.3 ms of CPU per transfer in the serving
      // instance, against 0.13 ms per event in full batches). Notifications end idle waits and backoffs.
      const pacing = failures === 0 && idleMs === 0 && waitMs > 0;
      if (this.notified && failures === 0 && !pacing) continue;
      await new Promise<void>((done) => {
        const timer = setTimeout(done, waitMs);
        this.wake = () => {
          if (pacing && !this.stopped) return;
          clearTimeout(timer);
          done();
        };
      });
    }
  }

  private async ready(): Promise<void> {
    try {
      await this.publisher!.ready();
    } catch (err) {
      throw new NotReady(message(err));
    }
  }

  private async publish(rows: RelayEvent[]): Promise<BatchResult> {
    const { acks, error } = await this.publisher!.publish(rows);
    const duplicates = acks.filter((a) => a.duplicate).length;
    this.metrics.relayed.inc(acks.length - duplicates);
    if (duplicates > 0) this.metrics.duplicates.inc(duplicates);
    this.published += acks.length;
    this.crashForTest();
    return { lastAcked: acks.length > 0 ? rows[acks.length - 1].sequence : undefined, error };
  }

  /**
   * NATS_RELAY_TEST_KILL_AFTER (a fault-test hook, read only when NODE_ENV=test: config/test-hooks.ts): dies
   * like a crash right after the PubAcks and before the cursor moves, the one moment where a re-send is
   * unavoidable.
   */
  private crashForTest(): void {
    const after = this.config.testHooks.NATS_RELAY_TEST_KILL_AFTER;
    if (after > 0 && this.published >= after) process.kill(process.pid, 'SIGKILL');
  }
}

class NotReady extends Error {}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const sleep = <T>(ms: number, value: T): Promise<T> =>
  new Promise((done) => setTimeout(() => done(value), ms).unref());
