import { Logger } from '@nestjs/common';
import { Harness, track } from '../support/engine-harness';

// AttemptRunner on the in-memory store: each test is a history of store calls landed (some with a fault)
// and timers fired; no database, no sleeps.
describe('AttemptRunner', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('runs a conflicting attempt again only after its backoff timer fires, then applies it', async () => {
    const h = new Harness();
    const [a, b] = [await h.user('10'), await h.user()];
    const instance = h.instance(false);
    const run = track(instance.runner.run(h.transfer(a, b, '4')));
    await h.land(); // the read
    expect(h.ops()).toEqual(['write']);
    await h.land(0, 'conflict');
    // Backing off: nothing asks the store until the timer fires.
    expect([h.ops(), h.clock.pendingTimers, run.done]).toEqual([[], 1, false]);
    await h.fireTimer();
    expect(await h.landAll()).toEqual(['read', 'write']);
    expect(run.value).toMatchObject({ kind: 'applied' });
    expect([h.balance(a.wallet), h.balance(b.wallet)]).toEqual(['6.0000', '4.0000']);
    const counts = instance.metrics.counts;
    expect([counts.get('attempts{optimistic,conflict}'), counts.get('attempts{optimistic,ok}')]).toEqual([
      1, 1,
    ]);
  });

  it('locks the wallets first from TRANSFER_LOCK_AFTER_ATTEMPTS (3) on', async () => {
    const h = new Harness();
    const [a, b] = [await h.user('10'), await h.user()];
    const run = track(h.instance(false).runner.run(h.transfer(a, b, '1')));
    for (let attempt = 1; attempt <= 2; attempt++) {
      await h.land();
      await h.land(0, 'conflict');
      await h.fireTimer();
    }
    // The third attempt: a probe read, the lock, the read under the lock, the write.
    expect(await h.landAll()).toEqual(['read', 'lock', 'read', 'write']);
    expect(run.value).toMatchObject({ kind: 'applied' });
  });

  it('answers 409 CONCURRENCY_CONFLICT after TRANSFER_MAX_ATTEMPTS conflicts, having written nothing', async () => {
    const h = new Harness();
    const [a, b] = [await h.user('10'), await h.user()];
    const commits = h.store.commits;
    const run = track(h.instance(false, { TRANSFER_MAX_ATTEMPTS: '4' }).runner.run(h.transfer(a, b, '1')));
    let writes = 0;
    while (!run.done) {
      if (h.ops()[0] === 'write') writes++;
      if (h.gate.calls.length > 0) await h.land(0, h.ops()[0] === 'write' ? 'conflict' : 'none');
      else await h.fireTimer();
    }
    expect(writes).toBe(4);
    expect(run.value).toMatchObject({ kind: 'refused', error: { code: 'CONCURRENCY_CONFLICT' } });
    expect([h.store.commits, h.balance(a.wallet)]).toEqual([commits, '10.0000']);
  });

  it('retries a lost idempotency race at once, without backoff, and replays the winner', async () => {
    const h = new Harness();
    const [a, b] = [await h.user('10'), await h.user()];
    const [one, two] = [h.instance(false, {}, 0), h.instance(false, {}, 1)];
    // A refusal (kept with its key, recorded as FAILED) moves no wallet: only the key can conflict.
    const first = track(one.runner.run(h.transfer(a, b, '50', 'k')));
    const second = track(two.runner.run(h.transfer(a, b, '50', 'k')));
    await h.land(); // first's read
    await h.land(); // second's read: neither has seen the key stored
    await h.land(); // first's write keeps the key
    await h.land(); // second's write: the key is taken
    expect([h.clock.pendingTimers, h.ops()]).toEqual([0, ['read']]);
    await h.landAll();
    expect(first.value).toMatchObject({ kind: 'refused', error: { code: 'INSUFFICIENT_FUNDS' } });
    expect(second.value).toMatchObject({ kind: 'replayed', response: { status: 422 } });
    expect(two.metrics.counts.get('attempts{optimistic,conflict}')).toBe(1);
  });

  it('throws what the store throws (a lost connection), counting an error', async () => {
    const h = new Harness();
    const [a, b] = [await h.user('10'), await h.user()];
    const instance = h.instance(false);
    const run = track(instance.runner.run(h.transfer(a, b, '1')));
    await h.land();
    await h.land(0, 'lost-after');
    expect(run.error).toMatchObject({ code: '08006' });
    // The write landed before the connection was lost: the money moved, the client was not told.
    expect(h.balance(a.wallet)).toBe('9.0000');
    expect(instance.metrics.counts.get('attempts{optimistic,error}')).toBe(1);
  });
});
