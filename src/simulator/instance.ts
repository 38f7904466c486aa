import { type AppConfig, loadConfig } from '../config/app-config';
import { PrimaryHold } from '../database/primary-hold';
import type { MetricsService } from '../metrics/metrics.service';
import { AttemptRunner } from '../transfers/engine/attempt-runner';
import type { EngineStore } from '../transfers/engine/engine.port';
import { MovementEngine } from '../transfers/engine/movement-engine';
import { WriteCombiner } from '../transfers/engine/write-combiner';
import { TransferService } from '../transfers/transfer.service';
import type { FakeClock } from './fake-clock';

/** Counts instead of Prometheus: the simulator reports attempts and conflicts, and needs no registry. */
export function countingMetrics(): MetricsService & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const counter = (name: string) => ({
    inc: (labels?: Record<string, string>) => {
      const key = labels ? `${name}{${Object.values(labels).join(',')}}` : name;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    },
    observe: () => undefined,
  });
  const metrics = {
    counts,
    transferAttempts: counter('attempts'),
    transferConflicts: counter('conflicts'),
    transferRetries: counter('retries'),
    movements: counter('movements'),
    holdsExpired: counter('expired'),
    batchSize: counter('batches'),
    countMoved: () => undefined,
  };
  return metrics as unknown as MetricsService & { counts: Map<string, number> };
}

/** The engine's settings in a simulation: the production defaults, with the combiner on or off. */
export function simulationConfig(queue: boolean, overrides: Record<string, string> = {}): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    SECRET_KEY: 'simulation-secret-key-that-is-long-enough',
    TRANSFER_QUEUE: String(queue),
    // No waiting out a moving primary (real timers): a lost connection reaches the client, who retries.
    DB_PRIMARY_WAIT_MS: '0',
    ...overrides,
  });
}

/**
 * One instance of the service as far as money goes: the real TransferService (idempotency, queue keys),
 * WriteCombiner, AttemptRunner and MovementEngine, on a store and a clock the simulation controls.
 * A crash throws it away with everything it held in memory; a restart builds a new one.
 */
export class Instance {
  readonly engine: MovementEngine;
  readonly runner: AttemptRunner;
  readonly combiner: WriteCombiner;
  readonly transfers: TransferService;
  readonly metrics = countingMetrics();

  constructor(store: EngineStore, clock: FakeClock, config: AppConfig) {
    this.engine = new MovementEngine(store, new PrimaryHold(config), clock);
    this.runner = new AttemptRunner(this.engine, config, this.metrics, clock);
    this.combiner = new WriteCombiner(this.engine, this.runner, config, this.metrics, clock);
    this.transfers = new TransferService(this.engine, this.runner, this.combiner, config, this.metrics);
  }
}
