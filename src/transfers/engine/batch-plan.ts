import { Money } from '../../common/money/money';
import { outboxEvent, type EventType } from '../../events/outbox';
import { TransactionDto } from '../dto/transaction.dto';
import type { TxRecord } from '../transaction.record';
import { keyId } from '../idempotency';
import type {
  Accepted,
  EngineState,
  IdempotencyRecord,
  Refused,
  UsageDelta,
  WalletState,
  WritePlan,
} from './engine.types';
import { keptWindows, usageKey, windowOfKey } from './movement-rules.limits';
import { monitorEvent, monitorsCrossed } from './movement-rules.monitors';

/** A deep-enough copy of a state: the rules can run on it again without seeing later changes. */
export function cloneState(s: EngineState): EngineState {
  const copy = (w: WalletState): WalletState => ({
    ...w,
    usage: new Map([...w.usage].map(([k, u]) => [k, { ...u }])),
    monitors: w.monitors.map((m) => ({ ...m })),
  });
  return {
    wallets: new Map([...s.wallets].map(([id, w]) => [id, copy(w)])),
    walletOfUser: new Map(s.walletOfUser),
    users: new Map(s.users),
    transactions: new Map(s.transactions),
    idempotency: new Map(s.idempotency),
  };
}

/**
 * Accumulates decided movements into one write. Each accepted movement is applied to the in-memory state
 * at once, so the next movement's rules see its effects (balances, holds settled, keys used); the write
 * then carries the NET change per wallet, checked against the version the state was read at, and each
 * ledger line with the running balance right after its own movement. Pure: no I/O.
 */
export class BatchPlan {
  private readonly readVersions = new Map<string, number>();
  private readonly net = new Map<string, { balance: Money; held: Money; requireActive: boolean }>();
  /** Refunded transfers: the refunded amount the state was read with, and where it ends. */
  private readonly refunded = new Map<string, { expected: Money; next: Money }>();
  /** Net usage change per wallet and window. */
  private readonly usage = new Map<string, UsageDelta>();
  /** Monitors whose `met` changed, as they end. */
  private readonly monitors = new Map<string, { id: string; met: boolean; lastTriggeredAt: Date | null }>();
  private readonly plan: WritePlan;

  constructor(
    private readonly state: EngineState,
    now: Date,
  ) {
    for (const w of state.wallets.values()) {
      this.readVersions.set(w.id, w.version);
    }
    this.plan = {
      wallets: [],
      inserts: [],
      settles: [],
      refunds: [],
      ledger: [],
      idempotency: [],
      mustBeActive: [],
      mustBeAdmin: [],
      ended: [],
      giveBacks: [],
      monitors: [],
      events: [],
      now,
    };
  }

  get isEmpty(): boolean {
    const p = this.plan;
    return (
      this.net.size === 0 &&
      p.inserts.length === 0 &&
      p.settles.length === 0 &&
      this.refunded.size === 0 &&
      p.idempotency.length === 0
    );
  }

  accept(decision: Accepted, key?: IdempotencyRecord): void {
    for (const change of decision.changes) {
      const wallet = this.state.wallets.get(change.walletId) as WalletState;
      wallet.balance = wallet.balance.plus(change.balance);
      wallet.held = wallet.held.plus(change.held);
      const acc = this.net.get(wallet.id) ?? { balance: Money.ZERO, held: Money.ZERO, requireActive: false };
      acc.balance = acc.balance.plus(change.balance);
      acc.held = acc.held.plus(change.held);
      acc.requireActive ||= change.requireActive;
      this.net.set(wallet.id, acc);
      if (change.ledger && !change.ledger.isZero()) {
        this.plan.ledger.push({
          walletId: wallet.id,
          transactionId: decision.transaction.id,
          amount: change.ledger,
          balanceAfter: wallet.balance,
        });
      }
    }
    if (decision.created) this.plan.inserts.push(decision.transaction);
    if (decision.settle) this.plan.settles.push(decision.settle);
    if (decision.refund) {
      const original = this.state.transactions.get(decision.refund.originalId) as TxRecord;
      const next = original.refundedAmount.plus(decision.refund.amount);
      const entry = this.refunded.get(original.id) ?? { expected: original.refundedAmount, next };
      entry.next = next;
      this.refunded.set(original.id, entry);
      this.state.transactions.set(original.id, { ...original, refundedAmount: next });
    }
    this.state.transactions.set(decision.transaction.id, decision.transaction);
    this.event(acceptedEventType(decision), decision.transaction);
    for (const delta of decision.usage ?? []) this.count(delta);
    // Each movement's crossings, against the balance right after it: a wallet crossing three times within
    // one combined write gets three events, in order.
    for (const walletId of new Set(decision.changes.map((c) => c.walletId))) {
      const wallet = this.state.wallets.get(walletId) as WalletState;
      for (const monitor of monitorsCrossed(wallet, this.plan.now)) {
        this.monitors.set(monitor.id, {
          id: monitor.id,
          met: monitor.met,
          lastTriggeredAt: monitor.lastTriggeredAt,
        });
        this.plan.events.push(monitorEvent(wallet, monitor, decision.transaction.id));
      }
    }
    this.plan.mustBeActive.push(...decision.mustBeActive);
    this.plan.mustBeAdmin.push(...decision.mustBeAdmin);
    if (key) this.keep(key);
  }

  /**
   * A change of one window's usage, seen at once by the later movements of the batch. A give-back to a
   * window the state does not hold (an earlier one) changes only the row, where it exists.
   */
  private count(delta: UsageDelta): void {
    const wallet = this.state.wallets.get(delta.walletId) as WalletState;
    const key = usageKey(delta.period, delta.start);
    const used = wallet.usage.get(key);
    if (used || delta.count > 0) {
      const base = used ?? { amount: Money.ZERO, count: 0 };
      wallet.usage.set(key, { amount: base.amount.plus(delta.amount), count: base.count + delta.count });
    }
    const id = `${delta.walletId}|${key}`;
    const net = this.usage.get(id);
    this.usage.set(
      id,
      net ? { ...net, amount: net.amount.plus(delta.amount), count: net.count + delta.count } : { ...delta },
    );
  }

  /** A refusal kept with its key (and its FAILED record, when it has one). */
  refuse(decision: Refused, key: IdempotencyRecord): void {
    if (decision.record) this.record(decision.record);
    this.keep(key);
  }

  /** A FAILED transaction recording a refusal. */
  record(tx: TxRecord): void {
    this.plan.inserts.push(tx);
    this.state.transactions.set(tx.id, tx);
    this.event('transaction.failed', tx);
  }

  /** The change's event, touching the transaction's wallets and their owners, with the transaction as it now is. */
  private event(type: EventType, tx: TxRecord): void {
    const walletIds = [tx.sourceWalletId, tx.destinationWalletId];
    const owners = walletIds.map((id) => (id ? this.state.wallets.get(id)?.userId : undefined));
    this.plan.events.push(outboxEvent(type, walletIds, owners, { transaction: TransactionDto.from(tx) }));
  }

  build(): WritePlan {
    const ended: WritePlan['ended'] = [];
    const wallets = [...this.net]
      .map(([id, d]) => {
        const wallet = this.state.wallets.get(id) as WalletState;
        const windows = keptWindows(wallet.usage);
        // A window the row kept whose next one began in this write is stored as it ends.
        for (const [key, u] of wallet.usage) {
          const { period, start } = windowOfKey(key);
          if (windows[period]?.start.getTime() !== start)
            ended.push({ walletId: id, period, start: new Date(start), ...u });
        }
        return { id, version: this.readVersions.get(id) as number, ...d, windows };
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const refunds = [...this.refunded].map(([id, r]) => ({ id, ...r }));
    // A give-back to a window the state does not hold (one that ended before the row's kept one) changes
    // the stored window where it exists: a hold counted before its window was kept gives back nothing.
    const giveBacks = [...this.usage.values()].filter(
      (u) =>
        (!u.amount.isZero() || u.count !== 0) &&
        !(this.state.wallets.get(u.walletId) as WalletState).usage.has(usageKey(u.period, u.start)),
    );
    return { ...this.plan, wallets, refunds, ended, giveBacks, monitors: [...this.monitors.values()] };
  }

  /** A response kept for an Idempotency-Key; later movements with the same key in this batch replay it. */
  keep(key: IdempotencyRecord): void {
    this.plan.idempotency.push(key);
    this.state.idempotency.set(keyId(key.caller, key.key), {
      hash: key.hash,
      status: key.status,
      body: key.body,
    });
  }
}

/** Which event an accepted movement makes (a FAILED record's is always `transaction.failed`). */
export function acceptedEventType(d: Accepted): EventType {
  const tx = d.transaction;
  if (d.settle) {
    if (d.settle.status === 'COMPLETED') return 'hold.captured';
    return d.settle.failureReason === 'EXPIRED' ? 'hold.expired' : 'hold.voided';
  }
  if (tx.status === 'PENDING') return 'hold.created';
  if (tx.type === 'REFUND') return 'refund.completed';
  return tx.status === 'FAILED' ? 'transaction.failed' : 'transaction.completed';
}
