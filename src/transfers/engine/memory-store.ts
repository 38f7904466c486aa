import { Money } from '../../common/money/money';
import type { OutboxEvent } from '../../events/outbox';
import { keyId } from '../idempotency';
import type { TxRecord } from '../transaction.record';
import type { EngineStore, LockedSession } from './engine.port';
import { PERIODS } from '../../wallets/limits/limit-windows';
import { WalletLocks } from './memory-locks';
import { usageKey } from './movement-rules.limits';
import type {
  ConflictReason,
  EngineState,
  IdempotencyRecord,
  LedgerLine,
  StateQuery,
  Usage,
  WalletState,
  WritePlan,
  WriteResult,
} from './engine.types';

/** A wallet row as the store keeps it, with its limits, usage and monitors (its owner's status is the user's). */
export type StoredWallet = Omit<WalletState, 'userStatus'>;

/** An event as committed, numbered in commit order from 1 with no gap. */
export type StoredEvent = OutboxEvent & { sequence: number; createdAt: Date };

/** A data rule the write would break (PostgreSQL's CHECK, primary and unique keys): thrown, as 23514/23505. */
export class StoreConstraintError extends Error {
  constructor(readonly constraint: string) {
    super(`the write would break ${constraint}`);
  }
}

/**
 * The engine's store in memory, with the semantics of the PostgreSQL one (engine.repository.ts and the
 * statement of write-statement.ts): every write is checked and applied in one step, all or nothing; its
 * checks are those of the statement's `ok` CTE, in its order; the locked path's wallet locks make other
 * writes on them wait. For unit tests and the simulator; held to the same contract tests as PostgreSQL.
 *
 * The checks and the steps of a write are protected methods, so the simulator can plant a bug in one.
 */
export class MemoryStore implements EngineStore {
  readonly users = new Map<string, { status: string; role: string }>();
  readonly wallets = new Map<string, StoredWallet>();
  readonly transactions = new Map<string, TxRecord>();
  readonly ledger: Array<LedgerLine & { createdAt: Date }> = [];
  readonly keys = new Map<string, IdempotencyRecord & { createdAt: Date }>();
  readonly events: StoredEvent[] = [];
  /** Usage of the windows that ended (wallet_limit_usage), by `wallet|usageKey`; a wallet's kept ones are on it. */
  readonly endedWindows = new Map<string, Usage>();
  /** Writes committed so far: what has not changed need not be checked again. */
  commits = 0;
  /** wallet id -> the session that has it locked, and those waiting for it in arrival order. */
  private readonly locks = new WalletLocks();

  addUser(id: string, role = 'USER', status = 'ACTIVE'): void {
    this.users.set(id, { status, role });
  }

  addWallet(id: string, userId: string, currency: string): void {
    this.wallets.set(id, {
      id,
      userId,
      currency,
      balance: Money.ZERO,
      held: Money.ZERO,
      version: 1,
      overdraft: Money.ZERO,
      limits: [],
      usage: new Map(),
      monitors: [],
    });
  }

  /** An admin's status change (users.repository.ts): the next write relying on the old status conflicts. */
  setUserStatus(id: string, status: string): void {
    const user = this.users.get(id);
    if (user) this.users.set(id, { ...user, status });
  }

  /** Writes waiting for a wallet a locked session holds. */
  lockWaiters(): number {
    return this.locks.waiters();
  }

  async readState(q: StateQuery): Promise<EngineState> {
    await Promise.resolve();
    const state: EngineState = {
      wallets: new Map(),
      walletOfUser: new Map(),
      users: new Map(),
      transactions: new Map(),
      idempotency: new Map(),
    };
    const callers = new Set(q.keys.map((k) => k.caller));
    const names = new Set(q.keys.map((k) => k.key));
    for (const k of this.keys.values()) {
      // As the statement reads them: any stored key of those callers with any of those names.
      if (callers.has(k.caller) && names.has(k.key)) {
        state.idempotency.set(keyId(k.caller, k.key), { hash: k.hash, status: k.status, body: k.body });
      }
    }
    const users = new Set(q.userIds);
    for (const id of users) {
      const u = this.users.get(id);
      if (u) state.users.set(id, { ...u });
    }
    const walletIds = new Set(q.walletIds);
    for (const w of this.wallets.values()) if (users.has(w.userId)) walletIds.add(w.id);
    for (const id of new Set(q.transactionIds)) {
      const tx = this.transactions.get(id);
      if (!tx) continue;
      state.transactions.set(id, { ...tx });
      for (const w of [tx.sourceWalletId, tx.destinationWalletId]) if (w) walletIds.add(w);
    }
    for (const id of walletIds) {
      const w = this.wallets.get(id);
      if (!w) continue;
      const userStatus = this.users.get(w.userId)?.status ?? 'ACTIVE';
      const copy = { ...w, usage: new Map(w.usage), monitors: w.monitors.map((m) => ({ ...m })) };
      state.wallets.set(id, { ...copy, limits: [...w.limits], userStatus });
      state.walletOfUser.set(w.userId, id);
    }
    return state;
  }

  write(plan: WritePlan): Promise<WriteResult> {
    return this.writeAs(undefined, plan);
  }

  async locked<T>(work: (session: LockedSession) => Promise<T>): Promise<T> {
    const owner = {};
    try {
      return await work({
        readState: (q) => this.readState(q),
        lockWallets: (ids) => this.locks.lock(owner, ids),
        write: (plan) => this.writeAs(owner, plan),
      });
    } finally {
      this.locks.end(owner);
    }
  }

  private async writeAs(owner: object | undefined, plan: WritePlan): Promise<WriteResult> {
    const ids = plan.wallets.map((w) => w.id);
    const foreign = ids.filter((id) => this.locks.heldByAnother(id, owner));
    // A session holding locks that waits for another's would wait forever if that one waits for it:
    // PostgreSQL detects the cycle and cancels one (40P01); this store refuses at once.
    if (owner && foreign.length > 0) return { kind: 'conflict', reason: 'deadlock', walletIds: [] };
    for (const id of foreign) await this.locks.waitFor(id, owner);
    await Promise.resolve();
    const conflict = this.conflictOf(plan);
    if (conflict) return conflict;
    this.checkRules(plan);
    this.apply(plan);
    this.commits += 1;
    return { kind: 'committed' };
  }

  /** The statement's checks, in its order: wallets, settlements and refunds, actors; then the keys. */
  protected conflictOf(plan: WritePlan): WriteResult | undefined {
    const conflict = (reason: ConflictReason, walletIds: string[] = []): WriteResult => ({
      kind: 'conflict',
      reason,
      walletIds,
    });
    const stale = this.staleWallets(plan);
    if (stale.length > 0) return conflict('version', stale);
    if (!this.settlementsHold(plan)) return conflict('settled');
    if (!this.actorsHold(plan)) return conflict('actor');
    if (this.keyTaken(plan)) return conflict('duplicate');
    return undefined;
  }

  protected staleWallets(plan: WritePlan): string[] {
    return plan.wallets
      .filter((v) => {
        const w = this.wallets.get(v.id);
        return !w || w.version !== v.version || (v.requireActive && !this.isActive(w.userId));
      })
      .map((v) => v.id);
  }

  protected settlementsHold(plan: WritePlan): boolean {
    const pending = plan.settles.every((s) => this.transactions.get(s.id)?.status === 'PENDING');
    const refunds = plan.refunds.every((r) => {
      const tx = this.transactions.get(r.id);
      return tx?.status === 'COMPLETED' && tx.refundedAmount.eq(r.expected);
    });
    return pending && refunds;
  }

  protected actorsHold(plan: WritePlan): boolean {
    const admins = new Set(plan.mustBeAdmin);
    return [...new Set([...plan.mustBeActive, ...plan.mustBeAdmin])].every(
      (id) => this.isActive(id) && (!admins.has(id) || this.users.get(id)?.role === 'ADMIN'),
    );
  }

  protected keyTaken(plan: WritePlan): boolean {
    const ids = plan.idempotency.map((k) => keyId(k.caller, k.key));
    return new Set(ids).size < ids.length || ids.some((id) => this.keys.has(id));
  }

  /** The data rules the tables keep whatever the engine does (CHECK constraints and primary keys). */
  private checkRules(plan: WritePlan): void {
    for (const v of plan.wallets) {
      const w = this.wallets.get(v.id) as StoredWallet;
      const balance = w.balance.plus(v.balance);
      const held = w.held.plus(v.held);
      // The overdraft trigger: available money may not go down to below minus the overdraft.
      const available = balance.minus(held);
      const lower = available.lt(w.balance.minus(w.held));
      if (lower && available.plus(w.overdraft).isNegative())
        throw new StoreConstraintError('wallets_balance_overdraft');
      if (held.isNegative()) throw new StoreConstraintError('wallets_held_valid');
    }
    for (const tx of plan.inserts) {
      if (this.transactions.has(tx.id)) throw new StoreConstraintError('transactions_pkey');
    }
    for (const e of plan.ended) {
      if (this.endedWindows.has(`${e.walletId}|${usageKey(e.period, e.start)}`))
        throw new StoreConstraintError('wallet_limit_usage_pkey');
    }
  }

  protected apply(plan: WritePlan): void {
    const now = plan.now;
    for (const v of plan.wallets) {
      const w = this.wallets.get(v.id) as StoredWallet;
      const usage = new Map<string, Usage>();
      for (const period of PERIODS) {
        const kept = v.windows[period];
        if (kept) usage.set(usageKey(period, kept.start), { amount: kept.amount, count: kept.count });
      }
      this.wallets.set(w.id, {
        ...w,
        balance: w.balance.plus(v.balance),
        held: w.held.plus(v.held),
        version: w.version + 1,
        usage,
      });
    }
    for (const tx of plan.inserts) this.transactions.set(tx.id, { ...tx });
    for (const s of plan.settles) {
      const tx = this.transactions.get(s.id) as TxRecord;
      const settled = {
        status: s.status,
        amount: s.amount,
        failureReason: s.failureReason,
        completedAt: s.at,
      };
      this.transactions.set(s.id, { ...tx, ...settled });
    }
    for (const r of plan.refunds) {
      const tx = this.transactions.get(r.id) as TxRecord;
      this.transactions.set(r.id, { ...tx, refundedAmount: r.next });
    }
    for (const line of plan.ledger) this.ledger.push({ ...line, createdAt: now });
    for (const e of plan.ended) {
      this.endedWindows.set(`${e.walletId}|${usageKey(e.period, e.start)}`, {
        amount: e.amount,
        count: e.count,
      });
    }
    for (const g of plan.giveBacks) {
      const id = `${g.walletId}|${usageKey(g.period, g.start)}`;
      const row = this.endedWindows.get(id);
      if (row) this.endedWindows.set(id, { amount: row.amount.plus(g.amount), count: row.count + g.count });
    }
    for (const m of plan.monitors) {
      for (const w of this.wallets.values()) {
        if (!w.monitors.some((x) => x.id === m.id)) continue;
        const monitors = w.monitors.map((x) =>
          x.id === m.id ? { ...x, met: m.met, lastTriggeredAt: m.lastTriggeredAt } : x,
        );
        this.wallets.set(w.id, { ...w, monitors });
      }
    }
    for (const k of plan.idempotency) this.keep(k, now);
    this.append(plan.events, now);
  }

  protected keep(record: IdempotencyRecord, now: Date): void {
    this.keys.set(keyId(record.caller, record.key), { ...record, createdAt: now });
  }

  protected append(events: OutboxEvent[], now: Date): void {
    for (const e of events) this.events.push({ ...e, sequence: this.events.length + 1, createdAt: now });
  }

  private isActive(userId: string): boolean {
    return this.users.get(userId)?.status === 'ACTIVE';
  }
}
