import { Inject, Injectable, Optional } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { AttemptRunner } from './attempt-runner';
import { ENGINE_CLOCK, type EngineClock, SYSTEM_CLOCK, type Timer } from './engine-clock';
import type { MovementRequest, Outcome } from './engine.types';
import { MovementEngine } from './movement-engine';

/** A movement waiting in the combiner, with what it may touch and how far it has got. */
interface Waiting {
  request: MovementRequest;
  /** Queue keys of what it touches (wallets, holds): batches in flight never share one. */
  keys: string[];
  attempt: number;
  startedAt: number;
  done: (outcome: Outcome) => void;
  fail: (err: unknown) => void;
}

/**
 * The write combiner: movements that arrive while a write is in flight are gathered into one batch, which
 * the engine reads in one round trip, decides in arrival order in memory and writes as one statement. Fifty
 * payments to one merchant are one UPDATE of its wallet.
 *
 * - An idle engine writes at once: no wait. While batches are in flight, a new batch forms from everything
 *   waiting, up to TRANSFER_BATCH_MAX movements, waiting at most TRANSFER_BATCH_WAIT_US for more.
 * - Up to TRANSFER_BATCH_CONCURRENCY batches are in flight, never two touching the same wallet or hold, and
 *   a movement never overtakes an earlier one on the same key: within an instance, movements on one wallet
 *   apply in arrival order and never conflict with each other.
 * - A version conflict (another instance moved a wallet) sends back only the movements that depend on the
 *   wallets that moved; they go to the front of the queue, and once the retry budget is spent they run
 *   alone on the locked path, as without the combiner. The database's version check stays the guarantee.
 */
@Injectable()
export class WriteCombiner {
  private readonly waiting: Waiting[] = [];
  /** Keys held by batches in flight. */
  private readonly busy = new Set<string>();
  private inFlight = 0;
  private timer?: Timer;
  /** Started when batches in flight fill every slot and movements wait: see STUCK_MS. */
  private overflow?: Timer;
  private readonly clock: EngineClock;

  constructor(
    private readonly engine: MovementEngine,
    private readonly runner: AttemptRunner,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    @Optional() @Inject(ENGINE_CLOCK) clock?: EngineClock,
  ) {
    this.clock = clock ?? SYSTEM_CLOCK;
  }

  submit(request: MovementRequest, keys: string[]): Promise<Outcome> {
    return new Promise<Outcome>((done, fail) => {
      this.waiting.push({
        request,
        keys: [...new Set(keys)],
        attempt: 1,
        startedAt: this.clock.now(),
        done,
        fail,
      });
      this.pump();
    });
  }

  /** Starts batches while there is room; when others are in flight, lets a batch gather for a moment. */
  private pump(): void {
    const e = this.config.env;
    if (this.inFlight >= e.TRANSFER_BATCH_CONCURRENCY && this.waiting.length > 0) {
      // Every slot is taken, perhaps by batches stuck behind a row lock held elsewhere. A movement on
      // other wallets must not wait for them without bound: past STUCK_MS it goes anyway, and the pool's
      // connect timeout (503 with Retry-After) bounds its wait, as without the combiner.
      this.overflow ??= this.clock.setTimer(
        STUCK_MS,
        () => {
          this.overflow = undefined;
          if (this.waiting.length > 0 && this.startBatch()) this.pump();
        },
        true,
      );
      return;
    }
    while (this.inFlight < e.TRANSFER_BATCH_CONCURRENCY && this.waiting.length > 0) {
      const full = this.waiting.length >= e.TRANSFER_BATCH_MAX;
      if (this.inFlight > 0 && !full && e.TRANSFER_BATCH_WAIT_US > 0) {
        this.timer ??= this.clock.setTimer(e.TRANSFER_BATCH_WAIT_US / 1000, () => {
          this.timer = undefined;
          this.startBatch();
          this.pump();
        });
        return;
      }
      if (!this.startBatch()) return;
    }
  }

  /** Takes what may run now into one batch and starts it. False when everything waiting is blocked. */
  private startBatch(): boolean {
    if (this.timer) {
      this.timer.cancel();
      this.timer = undefined;
    }
    const e = this.config.env;
    const batch: Waiting[] = [];
    const blocked = new Set<string>();
    let locked: Waiting | undefined;
    let size = 0;
    for (let i = 0; i < this.waiting.length && size < e.TRANSFER_BATCH_MAX;) {
      const w = this.waiting[i];
      // A movement waits behind anything earlier on the same keys, in flight or still waiting.
      if (w.keys.some((k) => this.busy.has(k) || blocked.has(k))) {
        for (const k of w.keys) blocked.add(k);
        i++;
        continue;
      }
      const mode = this.runner.modeOf(w.attempt, w.startedAt);
      if (mode === 'locked') {
        if (batch.length === 0) {
          locked = w;
          this.waiting.splice(i, 1);
        }
        break;
      }
      batch.push(w);
      size += movementsIn(w.request);
      this.waiting.splice(i, 1);
    }
    const run = locked ? [locked] : batch;
    if (run.length === 0) return false;
    for (const w of run) for (const k of w.keys) this.busy.add(k);
    this.inFlight++;
    void this.write(run, locked ? 'locked' : 'optimistic');
    return true;
  }

  private async write(batch: Waiting[], mode: 'optimistic' | 'locked'): Promise<void> {
    const retry: Waiting[] = [];
    try {
      this.metrics.batchSize.observe(batch.reduce((n, w) => n + movementsIn(w.request), 0));
      const results = await this.engine.attempt(
        batch.map((w) => w.request),
        mode,
      );
      batch.forEach((w, i) => {
        const outcome = this.runner.settle(w.request, results[i], w.attempt, mode);
        if (outcome) w.done(outcome);
        else retry.push(w);
      });
    } catch (err) {
      for (const w of batch) {
        this.metrics.transferAttempts.inc({ kind: mode, outcome: 'error' });
        w.fail(err);
      }
    } finally {
      // What runs again keeps its keys through the backoff, so nothing later on them overtakes it.
      for (const w of batch) if (!retry.includes(w)) for (const k of w.keys) this.busy.delete(k);
      this.inFlight--;
    }
    if (retry.length > 0) {
      this.pump();
      // Back off as a single movement would, then go to the front: they arrived before what waits now.
      await this.runner.backoff(Math.max(...retry.map((w) => w.attempt)), mode, {
        kind: 'retry',
        reason: 'version',
      });
      for (const w of retry) {
        w.attempt++;
        for (const k of w.keys) this.busy.delete(k);
      }
      this.waiting.unshift(...retry);
    }
    this.pump();
  }
}

/** How long waiting movements let full slots be before a batch starts beyond TRANSFER_BATCH_CONCURRENCY. */
const STUCK_MS = 50;

function movementsIn(request: MovementRequest): number {
  return request.movement.kind === 'batch' ? request.movement.items.length : 1;
}
