import { Webhook } from 'standardwebhooks';
import { AppConfig } from '../config/app-config';
import { retryDelayMs } from './retry-schedule';
import { resolveWebhookTarget, UrlRefused } from './url-guard';
import type { AttemptRecord, ClaimedJob, WebhookJobs } from './webhook-jobs';
import type { DeliveryOutcome, WebhookMetrics } from './webhook.metrics';
import { type SendResult, WebhookSender } from './webhook-sender';

/** Most attempts one statement records. */
const RECORD_BATCH = 200;

/**
 * One delivery attempt of a claimed job, for the dispatcher (webhook-dispatcher.ts), which decides when
 * and how many: the target checked again (url-guard), the event signed afresh (Standard Webhooks: the
 * timestamp is the attempt's, so a retry a day later still verifies), sent, its outcome counted, and the
 * attempt recorded with its next retry (retry-schedule) together with the others that finish meanwhile.
 */
export class WebhookDelivery {
  private readonly sender: WebhookSender;
  private readonly allowPrivate: boolean;
  /** Multiplies the retry schedule: a fault-test hook (config/test-hooks.ts), 1 otherwise. */
  private readonly scale: number;
  private readonly toRecord: Array<{ attempt: AttemptRecord; resolve(): void; reject(err: unknown): void }> =
    [];
  private recording = false;

  constructor(
    config: AppConfig,
    private readonly metrics: WebhookMetrics,
  ) {
    this.sender = new WebhookSender(config.env.WEBHOOK_TIMEOUT_MS, config.env.WEBHOOK_CONNECT_TIMEOUT_MS);
    this.allowPrivate = config.env.WEBHOOK_ALLOW_PRIVATE;
    this.scale = Number(config.testHooks.WEBHOOK_RETRY_SCALE);
  }

  close(): void {
    this.sender.close();
  }

  /** One attempt of `job`: checked, signed, sent, its outcome counted and recorded with its retry. */
  async deliver(jobs: WebhookJobs, job: ClaimedJob): Promise<void> {
    const body = JSON.stringify(job.event);
    let result: SendResult;
    let outcome: DeliveryOutcome;
    try {
      // Checked again at every attempt, and the connection goes to the address checked here.
      const target = await resolveWebhookTarget(job.url, this.allowPrivate);
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
}
