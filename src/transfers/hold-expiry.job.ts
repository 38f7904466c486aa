import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { TransactionsRepository } from './transactions.repository';
import { TransferService } from './transfer.service';

const JOB = 'hold-expiry';
const BATCH = 200;

/**
 * Voids holds past their expiry with failureReason EXPIRED, every HOLD_EXPIRY_INTERVAL_MS. Safe with
 * several instances: each expiry is a settlement that applies only while the hold is PENDING, so of any
 * number of instances (and a racing capture) exactly one wins and the others see TRANSFER_NOT_PENDING.
 */
@Injectable()
export class HoldExpiryJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(HoldExpiryJob.name);
  private running = false;

  constructor(
    private readonly config: AppConfig,
    private readonly scheduler: SchedulerRegistry,
    private readonly transactions: TransactionsRepository,
    private readonly transfers: TransferService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    const timer = setInterval(() => void this.run(), this.config.env.HOLD_EXPIRY_INTERVAL_MS);
    timer.unref();
    this.scheduler.addInterval(JOB, timer);
  }

  onApplicationShutdown(): void {
    if (this.scheduler.doesExist('interval', JOB)) this.scheduler.deleteInterval(JOB);
  }

  /** One pass; returns how many holds this instance expired. */
  async run(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let expired = 0;
    try {
      this.metrics.holdExpiryRuns.inc();
      const ids = await this.transactions.expiredHolds(new Date(), BATCH);
      // All at once: the write combiner folds them into a few statements.
      const results = await Promise.all(ids.map((id) => this.transfers.expire(id)));
      expired = results.filter(Boolean).length;
      if (expired > 0) this.logger.log(`expired ${expired} hold(s)`);
    } catch (err) {
      this.logger.warn(`hold expiry pass failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.running = false;
    }
    return expired;
  }
}
