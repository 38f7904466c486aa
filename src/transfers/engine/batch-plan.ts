import { Money } from '../../common/money/money';
import { outboxEvent, type EventType } from '../../events/outbox';
import { TransactionDto } from '../dto/transaction.dto';
import type { TxRecord } from '../transaction.record';
import { keyId } from './stored-response';
import type {
  Accepted,
  EngineState,
  IdempotencyRecord,
  Refused,
  WalletState,
  WritePlan,
} from './engine.types';

/** A deep-enough copy of a state: the rules can run on it again without seeing later changes. */
export function cloneState(s: EngineState): EngineState {
  return {
    wallets: new Map([...s.wallets].map(([id, w]) => [id, { ...w }])),
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
  private readonly plan: WritePlan;

  constructor(
    private readonly state: EngineState,
    now: Date,
  ) {
    for (const w of state.wallets.values()) this.readVersions.set(w.id, w.version);
    this.plan = {
      wallets: [],
      inserts: [],
      settles: [],
      refunds: [],
      ledger: [],
      idempotency: [],
      mustBeActive: [],
      mustBeAdmin: [],
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
    this.plan.mustBeActive.push(...decision.mustBeActive);
    this.plan.mustBeAdmin.push(...decision.mustBeAdmin);
    if (key) this.keep(key);
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
    const wallets = [...this.net]
      .map(([id, d]) => ({ id, version: this.readVersions.get(id) as number, ...d }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const refunds = [...this.refunded].map(([id, r]) => ({ id, ...r }));
    return { ...this.plan, wallets, refunds };
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
