import { Logger } from '@nestjs/common';
import { Money } from '../../src/common/money/money';
import { Harness, track } from '../support/engine-harness';

// WriteCombiner on the in-memory store: histories of store calls landed and timers fired, no sleeps.
describe('WriteCombiner', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('folds what arrives while a write is in flight into one statement, each with its own outcome', async () => {
    const h = new Harness();
    const merchant = await h.user();
    const payers = [await h.user('10'), await h.user('10'), await h.user('10')];
    const { combiner } = h.instance(true);
    const pay = (p: { id: string; wallet: string }) =>
      track(combiner.submit(h.transfer(p, merchant, '2.5'), [`w:${p.wallet}`, `w:${merchant.wallet}`]));
    const commits = h.store.commits;
    const first = pay(payers[0]);
    expect(h.ops()).toEqual(['read']); // an idle combiner writes at once
    const rest = [pay(payers[1]), pay(payers[2])];
    expect(h.ops()).toEqual(['read']); // the merchant's wallet is busy: they wait behind the first
    expect(await h.landAll()).toEqual(['read', 'write', 'read', 'write']);
    expect(h.store.commits - commits).toBe(2);
    expect([first, ...rest].map((r) => r.value?.kind)).toEqual(['applied', 'applied', 'applied']);
    expect(h.balance(merchant.wallet)).toBe('7.5000');
    // Each movement has its own ledger line with the running balance right after it.
    const lines = h.store.ledger
      .filter((l) => l.walletId === merchant.wallet)
      .map((l) => l.balanceAfter.toFixed4());
    expect(lines).toEqual(['2.5000', '5.0000', '7.5000']);
  });

  it('never lets a movement overtake an earlier one on the same wallet; others run beside them', async () => {
    const h = new Harness();
    const [a, b, c, d] = [await h.user('10'), await h.user(), await h.user('10'), await h.user()];
    const { combiner } = h.instance(true);
    const keys = (from: { wallet: string }, to: { wallet: string }) => [`w:${from.wallet}`, `w:${to.wallet}`];
    const first = track(combiner.submit(h.transfer(a, b, '8'), keys(a, b)));
    const second = track(combiner.submit(h.transfer(a, b, '5'), keys(a, b)));
    const other = track(combiner.submit(h.transfer(c, d, '1'), keys(c, d)));
    // The second waits for the first; the batch wait timer then starts the unrelated one in the other slot.
    expect(h.ops()).toEqual(['read']);
    await h.fireTimer();
    expect(h.ops()).toEqual(['read', 'read']);
    await h.landAll();
    expect(first.value).toMatchObject({ kind: 'applied' });
    // Decided after the first was applied: 2 left, so 5 is refused.
    expect(second.value).toMatchObject({ kind: 'refused', error: { code: 'INSUFFICIENT_FUNDS' } });
    expect(other.value).toMatchObject({ kind: 'applied' });
  });

  it('sends back only the movements that depend on the wallets another instance moved', async () => {
    const h = new Harness();
    const [a, b, c, d] = [await h.user('10'), await h.user(), await h.user('10'), await h.user()];
    const { combiner } = h.instance(true, {}, 0);
    const elsewhere = h.instance(false, {}, 1);
    const at = (instance: number, op: string) =>
      h.gate.calls.findIndex((call) => call.instance === instance && call.op === op);
    const blocker = track(combiner.submit(h.transfer(d, c, '0.0001'), ['w:elsewhere']));
    // Gathered behind the blocker, the two movements go out as one batch when the batch wait ends.
    const ab = track(combiner.submit(h.transfer(a, b, '1'), [`w:${a.wallet}`, `w:${b.wallet}`]));
    const cd = track(combiner.submit(h.transfer(c, d, '1'), [`w:${c.wallet}`, `w:${d.wallet}`]));
    await h.fireTimer();
    await h.land(1); // the batch's read; its write now waits at the gate
    expect(h.ops()).toEqual(['read', 'write']);
    // Another instance deposits into a's wallet before the batch's write lands: a's version moves.
    const deposit = h.request({
      kind: 'deposit',
      caller: { id: h.admin },
      walletId: a.wallet,
      amount: Money.parse('5'),
      currency: 'USD',
    });
    const moved = track(elsewhere.runner.run(deposit));
    await h.land(at(1, 'read'));
    await h.land(at(1, 'write'));
    expect(moved.value).toMatchObject({ kind: 'applied' });
    await h.land(at(0, 'write')); // conflict on a's wallet
    // c -> d does not depend on it: decided again from the same read and written at once, no new read.
    expect([h.ops(), ab.done, cd.done]).toEqual([['read', 'write'], false, false]);
    await h.land(at(0, 'write'));
    expect([cd.value?.kind, ab.done]).toEqual(['applied', false]);
    // a -> b runs again after its backoff, from a fresh read.
    await h.fireTimer();
    await h.landAll();
    expect([ab.value?.kind, blocker.value?.kind]).toEqual(['applied', 'applied']);
    expect([h.balance(a.wallet), h.balance(b.wallet)]).toEqual(['14.0000', '1.0000']);
  });
});
