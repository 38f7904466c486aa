import type { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/app-config';
import { EventRelay } from '../../src/events/relay/event-relay';
import type { EventWakeups } from '../../src/events/relay/event-wakeups';
import { NatsPublisher } from '../../src/events/relay/nats-publisher';
import { type BatchResult, type RelayEvent, RelayStore } from '../../src/events/relay/relay-store';
import { RelayMetrics } from '../../src/events/relay/relay.metrics';
import { MetricsService } from '../../src/metrics/metrics.service';

/**
 * The relay's pace with a store and a publisher that answer at once: under load the sequencer notifies
 * every few milliseconds, and each pass should still carry NATS_RELAY_INTERVAL_MS worth of events, not a
 * handful per notification (each pass is five statements and a round of PubAcks).
 */
describe('EventRelay pace', () => {
  const INTERVAL_MS = 50;
  let relay: EventRelay;
  let wake: () => void;
  let passes: number;
  let pending: number;

  beforeEach(() => {
    jest.useFakeTimers();
    passes = 0;
    pending = 0;
    const config = loadConfig({
      NATS_URL: 'nats://127.0.0.1:1',
      NATS_RELAY_INTERVAL_MS: String(INTERVAL_MS),
      NATS_RELAY_BATCH: '500',
    });
    const store = {
      ensureCursor: () => Promise.resolve(),
      behind: () => Promise.resolve(pending > 0),
      close: () => Promise.resolve(),
      lag: () => Promise.resolve({ unrelayed: 0, unsequenced: 0 }),
      pass: async (limit: number, publish: (rows: RelayEvent[]) => Promise<BatchResult>) => {
        passes += 1;
        const n = Math.min(limit, pending);
        pending -= n;
        if (n > 0) await publish([]);
        return n;
      },
    } as unknown as RelayStore;
    jest.spyOn(RelayStore, 'onSameDatabase').mockReturnValue(store);
    jest.spyOn(NatsPublisher.prototype, 'ready').mockResolvedValue();
    jest.spyOn(NatsPublisher.prototype, 'publish').mockResolvedValue({ acks: [] });
    jest.spyOn(NatsPublisher.prototype, 'close').mockResolvedValue();
    const wakeups = {
      listening: true,
      subscribe: (w: () => void) => (wake = w),
    } as unknown as EventWakeups;
    relay = new EventRelay(config, {} as DataSource, new RelayMetrics(new MetricsService(config)), wakeups);
    relay.onApplicationBootstrap();
  });

  afterEach(async () => {
    const stopped = relay.beforeApplicationShutdown();
    await jest.runOnlyPendingTimersAsync();
    await stopped;
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('makes one pass per interval while events keep coming, whatever the notifications', async () => {
    await jest.advanceTimersByTimeAsync(0);
    const before = passes;
    // One second of load: 3 new events and a notification every 2 ms.
    for (let t = 0; t < 1000; t += 2) {
      pending += 3;
      wake();
      await jest.advanceTimersByTimeAsync(2);
    }
    const made = passes - before;
    expect(made).toBeGreaterThanOrEqual(1000 / INTERVAL_MS / 2);
    expect(made).toBeLessThanOrEqual(1000 / INTERVAL_MS + 2);
  });

  it('goes on at once after a full batch, and wakes from idle on a notification', async () => {
    await jest.advanceTimersByTimeAsync(0); // the first pass found nothing: idle
    pending = 1200;
    wake();
    await jest.advanceTimersByTimeAsync(1);
    // Two full batches back to back, then the rest, well within one interval.
    expect(pending).toBe(0);
    await jest.advanceTimersByTimeAsync(INTERVAL_MS * 2); // the pass that finds nothing: idle now
    const idle = passes;
    pending = 5;
    wake();
    await jest.advanceTimersByTimeAsync(1);
    expect(passes).toBe(idle + 1);
    expect(pending).toBe(0);
  });
});
