import { Money } from '../common/money/money';
import type { MemoryStore } from '../transfers/engine/memory-store';
import type { TxRecord } from '../transfers/transaction.record';

/**
 * What must hold after every step, read from the store as committed; `check` returns the first broken
 * one. It looks again only after a commit, and reads the append-only parts (ledger, events, new rows)
 * once each. (Answers that must replay identically are checked as they arrive: World.observe.)
 */
export class Invariants {
  private commits = -1;
  private ledgerSeen = 0;
  private eventsSeen = 0;
  private rowsSeen = 0;
  /** wallet id -> the sum of its ledger lines so far. */
  private readonly ledger = new Map<string, Money>();
  /** currency -> deposits less withdrawals so far (both are COMPLETED when made, and never change). */
  private readonly netIn = new Map<string, Money>();
  /** request tag (key, batch item) -> the transaction it made. */
  private readonly made = new Map<string, string>();

  constructor(private readonly store: MemoryStore) {}

  check(): string | undefined {
    if (this.store.commits === this.commits) return undefined;
    this.commits = this.store.commits;
    return this.ledgerLines() ?? this.newRows() ?? this.wallets() ?? this.rows() ?? this.events();
  }

  /** Balance = ledger, line by line: each line's running balance is the sum of the lines up to it. */
  private ledgerLines(): string | undefined {
    const lines = this.store.ledger;
    for (; this.ledgerSeen < lines.length; this.ledgerSeen++) {
      const line = lines[this.ledgerSeen];
      const running = (this.ledger.get(line.walletId) ?? Money.ZERO).plus(line.amount);
      this.ledger.set(line.walletId, running);
      if (!running.eq(line.balanceAfter)) {
        return `wallet ${line.walletId}: ledger line after ${running.toFixed4()} says ${line.balanceAfter.toFixed4()}`;
      }
    }
    return undefined;
  }

  /** No key applied twice: each request (each batch item) makes at most one transaction. */
  private newRows(): string | undefined {
    const rows = [...this.store.transactions.values()].slice(this.rowsSeen);
    this.rowsSeen += rows.length;
    for (const t of rows) {
      if (t.status === 'COMPLETED' && (t.type === 'DEPOSIT' || t.type === 'WITHDRAWAL')) {
        const amount = t.type === 'DEPOSIT' ? t.amount : t.amount.neg();
        this.netIn.set(t.currency, (this.netIn.get(t.currency) ?? Money.ZERO).plus(amount));
      }
      if (t.metadata.k === undefined) continue;
      const tag = `${t.metadata.k}/${t.metadata.i ?? ''}`;
      const earlier = this.made.get(tag);
      if (earlier) return `request ${tag} made two transactions: ${earlier} and ${t.id}`;
      this.made.set(tag, t.id);
    }
    return undefined;
  }

  /** Per wallet: balance = ledger, held = open holds; per currency: money in = money held. */
  private wallets(): string | undefined {
    const open = new Map<string, Money>();
    for (const t of this.store.transactions.values()) {
      if (t.status === 'PENDING' && t.sourceWalletId) {
        open.set(
          t.sourceWalletId,
          (open.get(t.sourceWalletId) ?? Money.ZERO).plus(t.heldAmount ?? Money.ZERO),
        );
      }
    }
    const held = new Map<string, Money>();
    for (const w of this.store.wallets.values()) {
      held.set(w.currency, (held.get(w.currency) ?? Money.ZERO).plus(w.balance));
      const lines = this.ledger.get(w.id) ?? Money.ZERO;
      if (!lines.eq(w.balance))
        return `wallet ${w.id}: balance ${w.balance.toFixed4()}, ledger ${lines.toFixed4()}`;
      const holds = open.get(w.id) ?? Money.ZERO;
      if (!holds.eq(w.held))
        return `wallet ${w.id}: held ${w.held.toFixed4()}, open holds ${holds.toFixed4()}`;
      if (w.held.gt(w.balance) || w.balance.isNegative()) {
        return `wallet ${w.id}: balance ${w.balance.toFixed4()} held ${w.held.toFixed4()}`;
      }
    }
    for (const [currency, sum] of held) {
      const net = this.netIn.get(currency) ?? Money.ZERO;
      if (!sum.eq(net))
        return `money not conserved in ${currency}: wallets hold ${sum.toFixed4()}, net in ${net.toFixed4()}`;
    }
    return undefined;
  }

  /** Refunds never pass the transfer, and its refunded amount is what they moved; keys name real rows. */
  private rows(): string | undefined {
    const refunded = new Map<string, Money>();
    const txs = this.store.transactions;
    for (const t of txs.values()) {
      if (t.type === 'REFUND' && t.status === 'COMPLETED' && t.originalTransactionId) {
        const id = t.originalTransactionId;
        refunded.set(id, (refunded.get(id) ?? Money.ZERO).plus(t.amount));
      }
    }
    for (const t of txs.values()) {
      if (t.type !== 'TRANSFER' || (t.refundedAmount.isZero() && !refunded.has(t.id))) continue;
      const moved = refunded.get(t.id) ?? Money.ZERO;
      if (!moved.eq(t.refundedAmount) || t.refundedAmount.gt(t.amount)) {
        return `transfer ${t.id}: refunded ${t.refundedAmount.toFixed4()} of ${t.amount.toFixed4()}, refunds moved ${moved.toFixed4()}`;
      }
    }
    for (const k of this.store.keys.values()) {
      if (k.transactionId && !txs.has(k.transactionId)) return `key ${k.key} names a missing transaction`;
    }
    return undefined;
  }

  /** One event per change (a new row, or a hold settled), numbered 1, 2, 3... in commit order. */
  private events(): string | undefined {
    const events = this.store.events;
    for (; this.eventsSeen < events.length; this.eventsSeen++) {
      const sequence = events[this.eventsSeen].sequence;
      if (sequence !== this.eventsSeen + 1) return `event number ${this.eventsSeen + 1} is ${sequence}`;
    }
    const settled = (t: TxRecord) => t.heldAmount !== null && t.status !== 'PENDING';
    const changes =
      this.store.transactions.size + [...this.store.transactions.values()].filter(settled).length;
    if (events.length !== changes) return `${events.length} events for ${changes} changes`;
    return undefined;
  }
}
