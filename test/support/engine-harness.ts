import { Money } from '../../src/common/money/money';
import type { Movement, MovementRequest } from '../../src/transfers/engine/engine.types';
import { MemoryStore } from '../../src/transfers/engine/memory-store';
import { FakeClock } from '../../src/simulator/fake-clock';
import { type Fault, Gate, GatedStore, settle } from '../../src/simulator/gated-store';
import { Instance, simulationConfig } from '../../src/simulator/instance';

/**
 * The engine's pieces on the in-memory store, with every store call held at a gate and time standing
 * still: a test lands calls and fires timers one at a time, so it states a history, not a race.
 */
export class Harness {
  readonly store = new MemoryStore();
  readonly clock = new FakeClock(1);
  readonly gate = new Gate();
  readonly admin = 'aaaaaaaa-0000-4000-8000-000000000000';
  private users = 0;

  instance(queue: boolean, env: Record<string, string> = {}, index = 0): Instance {
    return new Instance(
      new GatedStore(this.store, this.gate, index),
      this.clock,
      simulationConfig(queue, env),
    );
  }

  constructor() {
    this.store.addUser(this.admin, 'ADMIN');
  }

  /** A user with a wallet holding `balance` (written straight into the store, as a committed deposit). */
  async user(balance = '0'): Promise<{ id: string; wallet: string }> {
    this.users += 1;
    const n = String(this.users).padStart(12, '0');
    const id = `bbbbbbbb-0000-4000-8000-${n}`;
    const wallet = `cccccccc-0000-4000-8000-${n}`;
    this.store.addUser(id);
    this.store.addWallet(wallet, id, 'USD');
    if (balance !== '0') {
      const other = new Instance(this.store, this.clock, simulationConfig(false));
      await other.runner.run(
        this.request({
          kind: 'deposit',
          caller: { id: this.admin },
          walletId: wallet,
          amount: Money.parse(balance),
          currency: 'USD',
        }),
      );
    }
    return { id, wallet };
  }

  transfer(from: { id: string }, to: { wallet: string }, amount: string, key?: string): MovementRequest {
    const movement: Movement = {
      kind: 'transfer',
      caller: { id: from.id },
      toWalletId: to.wallet,
      amount: Money.parse(amount),
      currency: 'USD',
    };
    return this.request(movement, key);
  }

  request(movement: Movement, key?: string): MovementRequest {
    return key
      ? { movement, idem: { key, requestHash: `hash-${key}`, requestId: `req-${key}` } }
      : { movement };
  }

  /** The kinds of the calls waiting at the gate, in order. */
  ops(): string[] {
    return this.gate.calls.map((c) => c.op);
  }

  /** Lands the first waiting call (or the given one), then lets everything that can run, run. */
  async land(index = 0, fault: Fault = 'none'): Promise<void> {
    this.gate.complete(index, fault);
    await settle();
  }

  /** Lands every call, in order, until none waits; returns the kinds landed. */
  async landAll(): Promise<string[]> {
    const landed: string[] = [];
    while (this.gate.calls.length > 0) {
      landed.push(this.gate.calls[0].op);
      await this.land();
    }
    return landed;
  }

  async fireTimer(): Promise<void> {
    this.clock.fireNext();
    await settle();
  }

  balance(wallet: string): string | undefined {
    return this.store.wallets.get(wallet)?.balance.toFixed4();
  }
}

/** A promise's state, without waiting for it. */
export function track<T>(p: Promise<T>): { value?: T; error?: unknown; done: boolean } {
  const t: { value?: T; error?: unknown; done: boolean } = { done: false };
  p.then(
    (v) => Object.assign(t, { value: v, done: true }),
    (e: unknown) => Object.assign(t, { error: e, done: true }),
  );
  return t;
}
