import { Money } from '../../src/common/money/money';
import { BatchPlan, cloneState } from '../../src/transfers/engine/batch-plan';
import type { EngineState, Movement } from '../../src/transfers/engine/engine.types';
import { MemoryStore } from '../../src/transfers/engine/memory-store';
import { decide } from '../../src/transfers/engine/movement-rules';
import { FakeClock } from '../../src/simulator/fake-clock';

// BatchPlan, pure: decisions in, one WritePlan out. States are read from the in-memory store.
describe('BatchPlan', () => {
  const ids = new FakeClock(7);
  const ctx = { now: new Date('2026-01-01T00:00:00Z'), newId: () => ids.newId() };
  const W = (n: number) => `cccccccc-0000-4000-8000-00000000000${n}`;
  const U = (n: number) => `bbbbbbbb-0000-4000-8000-00000000000${n}`;

  async function world(balances: string[]): Promise<{ store: MemoryStore; state: EngineState }> {
    const store = new MemoryStore();
    balances.forEach((balance, n) => {
      store.addUser(U(n));
      store.addWallet(W(n), U(n), 'USD');
      const w = store.wallets.get(W(n));
      if (w) store.wallets.set(W(n), { ...w, balance: Money.parse(balance), version: 5 + n });
    });
    const users = balances.map((_, n) => U(n));
    const state = await store.readState({ userIds: users, walletIds: [], transactionIds: [], keys: [] });
    return { store, state };
  }
  const transfer = (from: number, to: number, amount: string): Movement => ({
    kind: 'transfer',
    caller: { id: U(from) },
    toWalletId: W(to),
    amount: Money.parse(amount),
    currency: 'USD',
  });
  function plan(state: EngineState, movements: Movement[]): BatchPlan {
    const p = new BatchPlan(state, ctx.now);
    for (const m of movements) {
      const d = decide(state, m, ctx);
      if (d.kind !== 'accepted') throw new Error(d.error.code);
      p.accept(d);
    }
    return p;
  }

  it('writes the net change per wallet, checked at the version read, and a ledger line per movement', async () => {
    const { state } = await world(['10', '0', '0']);
    const built = plan(state, [transfer(0, 1, '4'), transfer(1, 2, '3'), transfer(0, 2, '1')]).build();
    expect(built.wallets.map((w) => [w.id, w.version, w.balance.toFixed4(), w.held.toFixed4()])).toEqual([
      [W(0), 5, '-5.0000', '0.0000'],
      [W(1), 6, '1.0000', '0.0000'],
      [W(2), 7, '4.0000', '0.0000'],
    ]);
    // Running balances, each right after its own movement.
    expect(built.ledger.map((l) => [l.walletId, l.amount.toFixed4(), l.balanceAfter.toFixed4()])).toEqual([
      [W(0), '-4.0000', '6.0000'],
      [W(1), '4.0000', '4.0000'],
      [W(1), '-3.0000', '1.0000'],
      [W(2), '3.0000', '3.0000'],
      [W(0), '-1.0000', '5.0000'],
      [W(2), '1.0000', '4.0000'],
    ]);
    expect(built.events.map((e) => e.type)).toEqual(Array(3).fill('transaction.completed'));
    expect(built.inserts).toHaveLength(3);
  });

  it('lets a later movement see an earlier one: the balance it left, and a key it kept', async () => {
    const { state } = await world(['5', '0']);
    const p = plan(state, [transfer(0, 1, '4')]);
    expect(decide(state, transfer(0, 1, '2'), ctx)).toMatchObject({ error: { code: 'INSUFFICIENT_FUNDS' } });
    p.keep({ caller: U(0), key: 'k', hash: 'h', status: 201, body: {}, transactionId: null });
    expect(state.idempotency.get(`${U(0)}\u0000k`)).toEqual({ hash: 'h', status: 201, body: {} });
    expect(p.build().idempotency).toHaveLength(1);
  });

  it('checks a refunded transfer at the amount read, and sums refunds of it in one plan', async () => {
    const { store, state: first } = await world(['10', '0']);
    const paid = plan(first, [transfer(0, 1, '6')]).build();
    await store.write(paid);
    const txId = paid.inserts[0].id;
    const state = await store.readState({ userIds: [U(1)], walletIds: [], transactionIds: [txId], keys: [] });
    const refund = (amount: string): Movement => ({
      kind: 'refund',
      caller: { id: U(1) },
      transactionId: txId,
      amount: Money.parse(amount),
    });
    const built = plan(state, [refund('2'), refund('3')]).build();
    expect(built.refunds.map((r) => [r.id, r.expected.toFixed4(), r.next.toFixed4()])).toEqual([
      [txId, '0.0000', '5.0000'],
    ]);
    expect(built.events.map((e) => e.type)).toEqual(['refund.completed', 'refund.completed']);
  });

  it('is empty until something is decided, and a copy of the state does not see the plan', async () => {
    const { state } = await world(['10', '0']);
    const copy = cloneState(state);
    const p = new BatchPlan(state, ctx.now);
    expect(p.isEmpty).toBe(true);
    const d = decide(state, transfer(0, 1, '1'), ctx);
    if (d.kind === 'accepted') p.accept(d);
    expect(p.isEmpty).toBe(false);
    expect([state.wallets.get(W(0))?.balance.toFixed4(), copy.wallets.get(W(0))?.balance.toFixed4()]).toEqual(
      ['9.0000', '10.0000'],
    );
  });
});
