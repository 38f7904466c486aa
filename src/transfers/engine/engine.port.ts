import type { EngineState, StateQuery, WritePlan, WriteResult } from './engine.types';

/**
 * What the engine needs from storage, in the engine's own words (the Formance shape: the controller
 * declares its Store beside itself, storage implements it). Two implementations hold to one contract
 * (test/support/engine-store.contract.ts): PostgreSQL (engine.repository.ts) and memory (memory-store.ts,
 * for unit tests and the simulator).
 *
 * A write is all or nothing. When it finds that something the rules relied on has moved, it writes
 * nothing and names the conflict (`WriteResult`, `ConflictReason` in engine.types.ts):
 * - `version`: a wallet is gone, not at the version the rules saw, or its owner is no longer ACTIVE where
 *   the change requires it; `walletIds` names those wallets.
 * - `settled`: a hold being settled is no longer PENDING, or a refunded transfer is no longer COMPLETED at
 *   the refunded amount the rules saw.
 * - `actor`: a user who must be ACTIVE (or an admin) no longer is.
 * - `duplicate`: another request already stored a response under one of the plan's idempotency keys.
 * - `deadlock`, `serialization`: the store gave up on the write; it may simply run again.
 * Anything else (a broken data rule, a lost connection) is thrown.
 */
export interface EngineStore extends EngineSession {
  /**
   * The locked path: `work` runs in one transaction; wallets it locks stay locked (other writes on them
   * wait) until it ends, so their versions cannot move between its read and its write.
   */
  locked<T>(work: (session: LockedSession) => Promise<T>): Promise<T>;
}

/** Reads and writes: outside a transaction on the store, inside one on a locked session. */
export interface EngineSession {
  /** Everything the rules may look at for these movements, as committed now. */
  readState(q: StateQuery): Promise<EngineState>;
  /** The plan in one step, all or nothing: committed, or a named conflict and nothing written. */
  write(plan: WritePlan): Promise<WriteResult>;
}

export interface LockedSession extends EngineSession {
  /** Locks the wallets (in ascending id order, so two sessions never deadlock) until the session ends. */
  lockWallets(ids: string[]): Promise<void>;
}

/** The injection token of the engine's store (an interface has no runtime value to inject by). */
export const ENGINE_STORE = Symbol('EngineStore');
