import type { EngineStore, LockedSession } from '../transfers/engine/engine.port';
import type { EngineState, StateQuery, WritePlan, WriteResult } from '../transfers/engine/engine.types';
import type { MemoryStore } from '../transfers/engine/memory-store';

/** What can befall a store call when it completes. */
export type Fault = 'none' | 'conflict' | 'lost-before' | 'lost-after' | 'timeout';

export const FAULTS: readonly Fault[] = ['conflict', 'lost-before', 'lost-after', 'timeout'];

/** A store call an instance has made and is waiting on: it runs only when the scheduler completes it. */
export interface Call {
  instance: number;
  op: 'read' | 'write' | 'lock';
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** The errors the PostgreSQL driver gives for a lost connection and a statement timeout (pg-errors.ts). */
export function connectionLost(): Error {
  return Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
}

export function statementTimeout(): Error {
  return Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
}

/**
 * The calls in flight between the instances and the store. Nothing reaches the store until the scheduler
 * completes a call, so the order in which calls land (and what goes wrong with them) is the scheduler's
 * choice: interleavings a test or the simulator picks, not timing.
 */
export class Gate {
  readonly calls: Call[] = [];
  /** Aborts the locked sessions of an instance (its connections die with it). */
  private readonly sessions = new Map<number, Set<(err: unknown) => void>>();

  enqueue<T>(instance: number, op: Call['op'], run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.calls.push({ instance, op, run, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Lands call `index` (counted among those pending), with a fault or none. */
  complete(index: number, fault: Fault = 'none'): Call['op'] | undefined {
    const [call] = this.calls.splice(index, 1);
    if (!call) return undefined;
    if (fault === 'lost-before') call.reject(connectionLost());
    else if (fault === 'timeout') call.reject(statementTimeout());
    else if (fault === 'conflict' && call.op === 'write') {
      call.resolve({ kind: 'conflict', reason: 'serialization', walletIds: [] } satisfies WriteResult);
    } else if (fault === 'lost-after') call.run().then(() => call.reject(connectionLost()), call.reject);
    else call.run().then(call.resolve, call.reject);
    return call.op;
  }

  /**
   * An instance dies: its calls never answer; each one reached the store or not (`landed`), and its
   * locked sessions end (their locks are released, as when PostgreSQL loses the connection).
   */
  crash(instance: number, landed: () => boolean): void {
    for (let i = this.calls.length - 1; i >= 0; i--) {
      const call = this.calls[i];
      if (call.instance !== instance) continue;
      this.calls.splice(i, 1);
      if (landed()) call.run().catch(() => undefined);
    }
    for (const abort of this.sessions.get(instance) ?? []) abort(connectionLost());
    this.sessions.delete(instance);
  }

  /** Registers a locked session of an instance; returns what ends it. */
  session(instance: number, abort: (err: unknown) => void): () => void {
    const set = this.sessions.get(instance) ?? new Set();
    set.add(abort);
    this.sessions.set(instance, set);
    return () => set.delete(abort);
  }
}

/** One instance's view of the shared store: every call waits at the gate. */
export class GatedStore implements EngineStore {
  constructor(
    private readonly inner: MemoryStore,
    private readonly gate: Gate,
    private readonly instance: number,
  ) {}

  readState(q: StateQuery): Promise<EngineState> {
    return this.gate.enqueue(this.instance, 'read', () => this.inner.readState(q));
  }

  write(plan: WritePlan): Promise<WriteResult> {
    return this.gate.enqueue(this.instance, 'write', () => this.inner.write(plan));
  }

  locked<T>(work: (session: LockedSession) => Promise<T>): Promise<T> {
    return this.inner.locked((session) => {
      let end: () => void = () => undefined;
      const aborted = new Promise<never>((_, reject) => {
        end = this.gate.session(this.instance, reject);
      });
      const gated: LockedSession = {
        readState: (q) => this.gate.enqueue(this.instance, 'read', () => session.readState(q)),
        write: (plan) => this.gate.enqueue(this.instance, 'write', () => session.write(plan)),
        lockWallets: (ids) => this.gate.enqueue(this.instance, 'lock', () => session.lockWallets(ids)),
      };
      return Promise.race([work(gated), aborted]).finally(() => end());
    });
  }
}

/** Lets every promise that can settle settle: after it, the system waits only on the gate or the clock. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
