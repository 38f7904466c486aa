import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { AppError } from '../../common/errors/error-codes';
import { AppConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { ENGINE_CLOCK, type EngineClock, sleep, SYSTEM_CLOCK } from './engine-clock';
import type { MovementRequest, Outcome } from './engine.types';
import { type AttemptResult, type Mode, MovementEngine } from './movement-engine';

/**
 * Attempts, backoff and escalation. A movement runs optimistically (the write's version check is the
 * guard) and, on a conflict, again after a capped exponential backoff with full jitter; from
 * TRANSFER_LOCK_AFTER_ATTEMPTS, or once TRANSFER_MAX_RETRY_MS of optimistic retries are spent, an attempt
 * locks the wallets in id order first, where a version can no longer change under it. After
 * TRANSFER_MAX_ATTEMPTS: 409 CONCURRENCY_CONFLICT.
 */
@Injectable()
export class AttemptRunner {
  private readonly logger = new Logger(AttemptRunner.name);
  readonly clock: EngineClock;

  constructor(
    private readonly engine: MovementEngine,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    @Optional() @Inject(ENGINE_CLOCK) clock?: EngineClock,
  ) {
    this.clock = clock ?? SYSTEM_CLOCK;
  }

  /** The mode of attempt `n` (from 1) of a movement that started at `startedAt`. */
  modeOf(n: number, startedAt: number): Mode {
    const e = this.config.env;
    const escalate =
      (e.TRANSFER_LOCK_AFTER_ATTEMPTS > 0 && n >= e.TRANSFER_LOCK_AFTER_ATTEMPTS) ||
      this.clock.now() - startedAt >= e.TRANSFER_MAX_RETRY_MS;
    return escalate ? 'locked' : 'optimistic';
  }

  /** Runs one movement to an outcome: attempts until one is not a conflict, or the budget is spent. */
  async run(request: MovementRequest): Promise<Outcome> {
    const startedAt = this.clock.now();
    for (let n = 1; ; n++) {
      const mode = this.modeOf(n, startedAt);
      let result: AttemptResult;
      try {
        [result] = await this.engine.attempt([request], mode);
      } catch (err) {
        this.metrics.transferAttempts.inc({ kind: mode, outcome: 'error' });
        throw err;
      }
      const done = this.settle(request, result, n, mode);
      if (done) return done;
      await this.backoff(n, mode, result);
    }
  }

  /**
   * Counts an attempt's result in the metrics. Returns the outcome when the request is finished (done, or
   * out of attempts), undefined when it must run again.
   */
  settle(request: MovementRequest, result: AttemptResult, n: number, mode: Mode): Outcome | undefined {
    if (result.kind === 'done') {
      const outcome = result.outcome.kind === 'refused' ? 'refused' : 'ok';
      this.metrics.transferAttempts.inc({ kind: mode, outcome });
      return result.outcome;
    }
    this.metrics.transferAttempts.inc({ kind: mode, outcome: 'conflict' });
    if (result.reason !== 'duplicate') this.metrics.transferConflicts.inc({ reason: result.reason });
    if (n >= this.config.env.TRANSFER_MAX_ATTEMPTS) {
      this.logger.warn(`${request.movement.kind}: still conflicting after ${n} attempts (${result.reason})`);
      const error = new AppError(
        'CONCURRENCY_CONFLICT',
        'The wallets kept changing during the request; retry',
        {
          retryAfter: 1,
        },
      );
      return { kind: 'refused', error };
    }
    this.metrics.transferRetries.inc();
    return undefined;
  }

  /** Capped exponential backoff with full jitter; a lost idempotency race retries at once (it replays). */
  async backoff(n: number, mode: Mode, result: AttemptResult): Promise<void> {
    if (result.kind === 'retry' && result.reason === 'duplicate') return;
    if (mode !== 'optimistic') return;
    const e = this.config.env;
    await sleep(
      this.clock,
      this.clock.random() * Math.min(e.TRANSFER_BACKOFF_CAP_MS, e.TRANSFER_BACKOFF_BASE_MS * 2 ** (n - 1)),
    );
  }
}
