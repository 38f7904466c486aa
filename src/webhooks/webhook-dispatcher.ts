import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Pool, type PoolConfig } from 'pg';
import { Webhook } from 'standardwebhooks';
import { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { AppConfig } from '../config/app-config';
import { retryDelayMs } from './retry-schedule';
import { resolveWebhookTarget, UrlRefused } from './url-guard';
import { type AttemptRecord, type ClaimedJob, WebhookJobs } from './webhook-jobs';
import { type DeliveryOutcome, WebhookMetrics } from './webhook.metrics';
import { type SendResult, WebhookSender } from './webhook-sender';

/** Events one fan-out statement reads; a pass runs a few while the backlog lasts. */
const FANOUT_BATCH = 500;
const FANOUT_ROUNDS = 10;
/** Deliveries in flight at once on one instance (each endpoint also has WEBHOOK_ENDPOINT_CONCURRENCY). */
const MAX_IN_FLIGHT = 64;
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
/** Most attempts one statement records. */
const RECORD_BATCH = 200;

/**
 * Delivers events to webhook endpoints, in the background of every instance (WEBHOOK_DISPATCHER).
 *
 * Each pass fans the newly sequenced events out into durable jobs (webhook_deliveries), claims due jobs
 * and sends them without waiting for them: a slow receiver holds a slot of this instance's
 * MAX_IN_FLIGHT and of its endpoint's bound, never a database connection and never the pass. The work
 * runs on a pool of its own (2 connections), so no burst of deliveries takes a connection from a money
 * movement, and a receiver that is down or slow only delays its own jobs. Each attempt is signed afresh
 * (Standard Webhooks: the timestamp is the attempt's), so a retry a day later still verifies.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private pool?: Pool;
  private jobs?: WebhookJobs;
  private readonly sender: WebhookSender;
  private readonly scale: number;
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  private passing = false;
  private passAgain = false;
  private stopped = false;
  private lastWarning = 0;
  private lastLag = 0;
  private lastPrune = 0;
  private followUp?: NodeJS.Timeout;
  private readonly toRecord: Array<{ attempt: AttemptRecord; resolve(): void; reject(err: unknown): void }> =
    [];
  private recording = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly metrics: WebhookMetrics,
  ) {
    this.sender = new WebhookSender(config.env.WEBHOOK_TIMEOUT_MS);
    this.scale = Number(config.env.WEBHOOK_RETRY_SCALE);
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
    this.timer = setInterval(() => this.pass(), this.config.env.WEBHOOK_POLL_INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.followUp);
    // Deliveries under way may finish and be recorded; one that does not within a moment is abandoned
    // (its lease runs out and any instance sends it again: delivery is at least once).
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, 2000))]);
    this.sender.close();
    await this.pool?.end().catch(() => undefined);
  }

  /** Runs a pass now, or right after the one under way. */
  pass(): void {
    if (this.stopped || !this.jobs) return;
    if (this.passing) {
      this.passAgain = true;
      return;
    }
    this.passing = true;
    void this.runPass(this.jobs).finally(() => {
      this.passing = false;
      if (this.passAgain && !this.stopped) {
        this.passAgain = false;
        setImmediate(() => this.pass());
      }
    });
  }

  private async runPass(jobs: WebhookJobs): Promise<void> {
    try {
      for (let i = 0; i < FANOUT_ROUNDS && !this.stopped; i++) {
        if ((await jobs.fanOut(FANOUT_BATCH)) < FANOUT_BATCH) break;
      }
      const room = MAX_IN_FLIGHT - this.inFlight.size;
      if (room > 0 && !this.stopped) {
        const claimed = await jobs.claim(
          room,
          this.config.env.WEBHOOK_ENDPOINT_CONCURRENCY,
          this.config.env.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS,
        );
        for (const job of claimed) this.start(jobs, job);
      }
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
    }
  }

  private start(jobs: WebhookJobs, job: ClaimedJob): void {
    const run = this.deliver(jobs, job)
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

  private async deliver(jobs: WebhookJobs, job: ClaimedJob): Promise<void> {
    const body = JSON.stringify(job.event);
    let result: SendResult;
    let outcome: DeliveryOutcome;
    try {
      // Checked again at every attempt, and the connection goes to the address checked here.
      const target = await resolveWebhookTarget(job.url, this.config.env.WEBHOOK_ALLOW_PRIVATE);
      const now = new Date();
      result = await this.sender.send(
        target,
        {
          'webhook-id': job.event.id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': new Webhook(job.secret).sign(job.event.id, now, body),
        },
        body,
      );
      outcome = result.ok ? 'succeeded' : result.responseStatus === null ? 'unreachable' : 'failed';
    } catch (err) {
      if (!(err instanceof UrlRefused)) throw err;
      result = { ok: false, responseStatus: null, error: `refused: ${err.message}` };
      outcome = 'refused';
    }
    const retryInMs = result.ok ? null : retryDelayMs(job.attempt, this.scale);
    this.metrics.deliveries.inc({ outcome });
    if (!result.ok && retryInMs === null) this.metrics.deliveries.inc({ outcome: 'given_up' });
    await this.record(jobs, {
      jobId: job.id,
      attempt: job.attempt,
      ok: result.ok,
      retryInMs,
      responseStatus: result.responseStatus,
      error: result.error,
    });
  }

  /**
   * Records an attempt together with the others that finish meanwhile: one statement (and one commit)
   * per batch rather than per delivery, so a burst of deliveries costs the database little.
   */
  private record(jobs: WebhookJobs, attempt: AttemptRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.toRecord.push({ attempt, resolve, reject });
      if (!this.recording) void this.flushRecords(jobs);
    });
  }

  private async flushRecords(jobs: WebhookJobs): Promise<void> {
    this.recording = true;
    while (this.toRecord.length > 0) {
      const batch = this.toRecord.splice(0, RECORD_BATCH);
      try {
        await jobs.record(batch.map((b) => b.attempt));
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.recording = false;
  }

  private warn(what: string, err: unknown): void {
    if (Date.now() - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = Date.now();
    this.logger.warn(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
