import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Pool, type PoolConfig } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { AppConfig } from '../config/app-config';
import { EventWakeups } from '../events/relay/event-wakeups';
import { WebhookDelivery } from './webhook-delivery';
import { type ClaimedJob, WebhookJobs } from './webhook-jobs';
import { WebhookMetrics } from './webhook.metrics';

/** Events one fan-out statement reads; a pass runs a few while the backlog lasts. */
const FANOUT_BATCH = 500;
const FANOUT_ROUNDS = 10;
/**
 * Deliveries in flight at once on one instance. A hanging receiver costs a socket and a promise, so this
 * is generous: with PER_OWNER it takes 32 owners whose receivers all hang to fill it (issue 21, item 4).
 */
const MAX_IN_FLIGHT = 256;
/** Attempts in flight at once to all the endpoints of one owner (each endpoint: WEBHOOK_ENDPOINT_CONCURRENCY). */
const PER_OWNER = 8;
/** How long a claim outlives the request time-out before another instance may take the job again. */
const LEASE_MARGIN_MS = 20000;
/** At most one warning per this interval while the dispatcher's passes keep failing (database down). */
const WARN_EVERY_MS = 60000;
/** Finished deliveries within this long of each other share one follow-up pass. */
const FOLLOW_UP_MS = 10;
/** The lag gauge is read from the database at most this often. */
const LAG_EVERY_MS = 1000;
/** Settled jobs and their delivery log are kept this long, then pruned (a few thousand rows a pass). */
const RETENTION_DAYS = 30;
const PRUNE_EVERY_MS = 10 * 60 * 1000;
const PRUNE_BATCH = 5000;
/** Without notifications (a transaction pooler, or the listener down), an idle dispatcher probes at most this often. */
const IDLE_CAP_MS = 1000;
/** With notifications, an idle dispatcher probes this often at least (a notification lost in a failover). */
const IDLE_LISTENING_MS = 30000;

/**
 * Delivers events to webhook endpoints, in the background of every instance (WEBHOOK_DISPATCHER).
 *
 * Each pass fans the newly sequenced events out into durable jobs (webhook_deliveries), claims due jobs
 * and sends them without waiting for them: a slow receiver holds a slot of this instance's
 * MAX_IN_FLIGHT and of its endpoint's bound, never a database connection and never the pass. The work
 * runs on a pool of its own (2 connections), so no burst of deliveries takes a connection from a money
 * movement, and a receiver that is down or slow only delays its own jobs. This class is the pace and the
 * bounds; one attempt (sign, send, record, schedule the retry) is webhook-delivery.ts's.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private pool?: Pool;
  private jobs?: WebhookJobs;
  private readonly delivery: WebhookDelivery;
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  private passing = false;
  private passAgain = false;
  private passAgainUrgent = false;
  /** 0 while passes find work; else how long the dispatcher now waits between probes. */
  private idleMs = 0;
  private lastPassAt = 0;
  private notifyTimer?: NodeJS.Timeout;
  private stopped = false;
  private lastWarning = 0;
  private lastLag = 0;
  private lastPrune = 0;
  private followUp?: NodeJS.Timeout;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly metrics: WebhookMetrics,
    private readonly wakeups: EventWakeups,
  ) {
    this.delivery = new WebhookDelivery(config, metrics);
  }

  onApplicationBootstrap(): void {
    if (!this.config.env.WEBHOOK_DISPATCHER) return;
    const o = this.dataSource.options as PostgresConnectionOptions;
    const extra = (o.extra ?? {}) as Pick<PoolConfig, 'Client'> & {
      options?: string;
      connectionTimeoutMillis?: number;
    };
    this.pool = new Pool({
      host: o.host,
      port: o.port,
      user: o.username,
      password: typeof o.password === 'string' ? o.password : undefined,
      database: o.database,
      max: 2,
      application_name: 'hfts-webhooks',
      // A POSTGRES_HOST list: the primary locator's Client, so this pool follows a failover too.
      Client: extra.Client,
      // The jobs and their log may lose their last moments in a database crash: that only re-sends
      // (delivery is at least once) or re-fans a range (UNIQUE drops it). Not waiting for each commit's
      // WAL flush keeps this pool's commits off the disk the money movements wait on.
      options: [extra.options, '-c synchronous_commit=off'].filter(Boolean).join(' '),
      connectionTimeoutMillis: extra.connectionTimeoutMillis,
      idleTimeoutMillis: 30000,
    });
    // A dropped idle connection (database restart) is an 'error' on the pool: without a listener it
    // would crash the process.
    this.pool.on('error', (err) => this.warn('webhook pool connection lost', err));
    this.jobs = new WebhookJobs(this.pool);
    this.wakeups.subscribe(() => this.notified());
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.followUp);
    clearTimeout(this.notifyTimer);
    // Deliveries under way may finish and be recorded; one that does not within a moment is abandoned
    // (its lease runs out and any instance sends it again: delivery is at least once).
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, 2000))]);
    this.delivery.close();
    await this.pool?.end().catch(() => undefined);
  }

  /**
   * Runs a pass now, or right after the one under way. `urgent` (new events notified, a delivery
   * finished, a caller): a full pass; else (the timer of an idle dispatcher) a one-statement probe first.
   */
  pass(urgent = true): void {
    if (this.stopped || !this.jobs) return;
    if (this.passing) {
      this.passAgain = true;
      this.passAgainUrgent ||= urgent;
      return;
    }
    this.passing = true;
    void this.runPass(this.jobs, urgent).finally(() => {
      this.passing = false;
      if (this.passAgain && !this.stopped) {
        const again = this.passAgainUrgent;
        this.passAgain = false;
        this.passAgainUrgent = false;
        setImmediate(() => this.pass(again));
      }
    });
  }

  /**
   * New events: a full pass, but no sooner than WEBHOOK_POLL_INTERVAL_MS after the last one began. The
   * sequencer notifies after each of its runs (up to 50 a second under load); a pass for each would cost
   * more statements per transfer than the poll it replaced (the bench's count guard saw 5.7 against 4.4).
   */
  private notified(): void {
    const wait = this.lastPassAt + this.config.env.WEBHOOK_POLL_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.pass();
    this.notifyTimer ??= setTimeout(() => {
      this.notifyTimer = undefined;
      this.pass();
    }, wait);
    this.notifyTimer.unref();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pass(false), ms);
    this.timer.unref();
  }

  /**
   * The pace (issue 26: idle costs nothing): every WEBHOOK_POLL_INTERVAL_MS while passes find work.
   * Once one finds none, idle: a pass comes when the sequencer notifies new events or a delivery ends,
   * and meanwhile one probe (one statement) when the next retry comes due, every 30 s at most, or, when
   * notifications do not arrive (DB_POOLER=transaction, listener down), at an interval that doubles up
   * to one second.
   */
  private async runPass(jobs: WebhookJobs, urgent: boolean): Promise<void> {
    const poll = this.config.env.WEBHOOK_POLL_INTERVAL_MS;
    let next = poll;
    this.lastPassAt = Date.now();
    try {
      if (this.idleMs > 0 && !urgent) {
        const probe = await jobs.probe();
        if (!probe.work) {
          this.metrics.lag.set(0);
          const cap = this.wakeups.listening ? IDLE_LISTENING_MS : Math.min(IDLE_CAP_MS, this.idleMs * 2);
          this.idleMs = Math.max(poll, Math.min(cap, probe.nextInMs ?? cap));
          this.schedule(this.idleMs);
          return;
        }
      }
      let work = 0;
      for (let i = 0; i < FANOUT_ROUNDS && !this.stopped; i++) {
        const events = await jobs.fanOut(FANOUT_BATCH);
        work += events;
        if (events < FANOUT_BATCH) break;
      }
      const room = MAX_IN_FLIGHT - this.inFlight.size;
      if (room > 0 && !this.stopped) {
        const claimed = await jobs.claim(
          { room, perEndpoint: this.config.env.WEBHOOK_ENDPOINT_CONCURRENCY, perOwner: PER_OWNER },
          this.config.env.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS,
        );
        for (const job of claimed) this.start(jobs, job);
        work += claimed.length;
      }
      // Found nothing: the next look is a probe (which knows when the next retry is due).
      this.idleMs = work > 0 ? 0 : poll;
      if (Date.now() - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = Date.now();
        await jobs.prune(RETENTION_DAYS, PRUNE_BATCH);
      }
      if (Date.now() - this.lastLag >= LAG_EVERY_MS) {
        this.lastLag = Date.now();
        this.metrics.lag.set(await jobs.lagSeconds());
      }
    } catch (err) {
      this.warn('webhook dispatch pass failed', err);
      next = Math.max(poll, IDLE_CAP_MS);
    }
    this.schedule(next);
  }

  private start(jobs: WebhookJobs, job: ClaimedJob): void {
    const run = this.delivery
      .deliver(jobs, job)
      .catch((err) => this.warn('recording a webhook attempt failed', err))
      .finally(() => {
        this.inFlight.delete(run);
        // A freed slot may let the next job of a busy endpoint go: one pass for the deliveries that
        // finish together, not one each (each pass is a few statements on the database).
        this.followUp ??= setTimeout(() => {
          this.followUp = undefined;
          this.pass();
        }, FOLLOW_UP_MS);
      });
    this.inFlight.add(run);
  }

  private warn(what: string, err: unknown): void {
    if (Date.now() - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = Date.now();
    this.logger.warn(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
