import type { TxRecord } from '../transaction.record';
import type { Decision, EngineState, Movement } from './engine.types';
import {
  accept,
  available,
  callerBarred,
  credit,
  debit,
  fresh,
  inactiveParty,
  refuse,
  refuseRecorded,
  type RuleContext,
} from './movement-rules.shared';

/**
 * Refunds a completed transfer, fully (default: all not yet refunded) or partly, from the receiver's wallet
 * back to the sender's. Refunds of one transfer never total more than its amount: the write checks the
 * refunded amount the rules saw, so concurrent refunds cannot both pass.
 */
export function decideRefund(
  state: EngineState,
  m: Extract<Movement, { kind: 'refund' }>,
  ctx: RuleContext,
): Decision {
  const barred = callerBarred(state, m.caller.id, false);
  if (barred) return barred;
  const original = state.transactions.get(m.transactionId);
  const sender = original?.sourceWalletId ? state.wallets.get(original.sourceWalletId) : undefined;
  const receiver = original?.destinationWalletId
    ? state.wallets.get(original.destinationWalletId)
    : undefined;
  const isAdmin = state.users.get(m.caller.id)?.role === 'ADMIN';
  const party = sender?.userId === m.caller.id || receiver?.userId === m.caller.id;
  // Never reveal a transaction to a stranger; its parties (and admins) learn why it cannot be refunded.
  if (!original || (!isAdmin && !party)) return refuse('TRANSACTION_NOT_FOUND', 'No such transfer', false);
  if (original.type === 'TRANSFER' && !isAdmin && receiver?.userId !== m.caller.id) {
    return refuse('FORBIDDEN', 'Only the receiver or an admin can refund a transfer', false);
  }
  if (original.type !== 'TRANSFER' || original.status !== 'COMPLETED' || !sender || !receiver) {
    const what = original.type === 'TRANSFER' ? `a ${original.status} transfer` : `a ${original.type}`;
    return refuse(
      'TRANSFER_NOT_REFUNDABLE',
      `This is ${what}; only a completed transfer can be refunded`,
      false,
    );
  }
  const left = original.amount.minus(original.refundedAmount);
  const amount = m.amount ?? left;
  if (amount.isZero() || amount.gt(left)) {
    return refuse('REFUND_EXCEEDS_AMOUNT', `Only ${left.toFixed4()} of the transfer is left to refund`);
  }
  const now = ctx.now;
  const tx: TxRecord = {
    id: ctx.newId(),
    type: 'REFUND',
    status: 'COMPLETED',
    sourceWalletId: receiver.id,
    destinationWalletId: sender.id,
    amount,
    heldAmount: null,
    currency: original.currency,
    description: m.reason ?? null,
    reference: null,
    failureReason: null,
    initiatedBy: m.caller.id,
    holdExpiresAt: null,
    createdAt: now,
    completedAt: now,
    ...fresh(m.metadata),
    originalTransactionId: original.id,
  };
  const inactive = inactiveParty([receiver, sender]);
  if (inactive) return refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, now);
  if (available(receiver).lt(amount)) {
    return refuseRecorded('INSUFFICIENT_FUNDS', 'The receiver does not have enough available funds', tx, now);
  }
  if (!sender.balance.plus(amount).fitsBalance()) {
    return refuse('BALANCE_LIMIT_EXCEEDED', "The sender's balance would pass 14 integer digits");
  }
  const decision = accept(tx, true, [debit(receiver, amount), credit(sender, amount)], {
    mustBeActive: [m.caller.id],
    mustBeAdmin: isAdmin && receiver.userId !== m.caller.id ? [m.caller.id] : [],
  });
  return { ...decision, refund: { originalId: original.id, amount } };
}
