import { Money } from '../../common/money/money';
import type { TxRecord } from '../transaction.record';
import type {
  Accepted,
  Decision,
  EngineState,
  Movement,
  Refused,
  WalletDelta,
  WalletState,
} from './engine.types';
import { usageDeltas } from './movement-rules.limits';
import {
  accept,
  callerBarred,
  credit,
  debit,
  inactiveParty,
  refuse,
  type RuleContext,
} from './movement-rules.shared';

/**
 * What becomes of a hold: captured (all or part), voided by its receiver or an admin, or expired by the
 * job. Whatever is released goes back to the sender's available balance and to the limit windows the hold
 * was counted in (those of its creation).
 */

/** Settles a hold: moves `amount` (default all that is held) and releases the rest. */
export function decideCapture(
  state: EngineState,
  m: Extract<Movement, { kind: 'capture' }>,
  ctx: RuleContext,
): Decision {
  const found = pendingHold(state, m.caller.id, m.transactionId, ctx.now);
  if (found.kind === 'refused') return found;
  const { tx, source, dest, mustBeAdmin } = found;
  const held = tx.heldAmount as Money;
  const captured = m.amount ?? held;
  if (captured.gt(held)) return refuse('AMOUNT_EXCEEDS_HOLD', `Only ${held.toFixed4()} is held`);
  // Money never leaves a SUSPENDED or CLOSED account: the hold stays PENDING (void and expiry release it).
  const inactive = inactiveParty([source, dest]);
  if (inactive) return refuse('ACCOUNT_INACTIVE_PARTY', inactive);
  if (!dest.balance.plus(captured).fitsBalance()) {
    return refuse('BALANCE_LIMIT_EXCEEDED', 'The destination balance would pass 14 integer digits');
  }
  const now = ctx.now;
  const settled: TxRecord = { ...tx, status: 'COMPLETED', amount: captured, completedAt: now };
  const changes = [{ ...debit(source, captured), held: held.neg() }, credit(dest, captured)];
  return accept(settled, false, changes, {
    settle: { id: tx.id, status: 'COMPLETED', amount: captured, failureReason: null, at: now },
    mustBeActive: [m.caller.id],
    mustBeAdmin,
    // The hold still counts once; only the part not captured goes back.
    usage: usageDeltas(source, held.minus(captured).neg(), 0, tx.createdAt),
  });
}

export function decideVoid(
  state: EngineState,
  m: Extract<Movement, { kind: 'void' }>,
  ctx: RuleContext,
): Decision {
  const found = pendingHold(state, m.caller.id, m.transactionId, ctx.now);
  if (found.kind === 'refused') return found;
  return release(found.tx, found.source, 'VOIDED', ctx.now, [m.caller.id], found.mustBeAdmin);
}

/** Voids a hold past its expiry (the expiry job); anything else is TRANSFER_NOT_PENDING, never stored. */
export function decideExpiry(
  state: EngineState,
  m: Extract<Movement, { kind: 'expiry' }>,
  ctx: RuleContext,
): Decision {
  const tx = state.transactions.get(m.transactionId);
  if (!tx || tx.status !== 'PENDING' || !tx.holdExpiresAt || tx.holdExpiresAt > ctx.now) {
    return refuse('TRANSFER_NOT_PENDING', 'Nothing to expire', false);
  }
  const source = state.wallets.get(tx.sourceWalletId as string) as WalletState;
  return release(tx, source, 'EXPIRED', ctx.now, [], []);
}

function pendingHold(
  state: EngineState,
  callerId: string,
  transferId: string,
  now: Date,
): { kind: 'found'; tx: TxRecord; source: WalletState; dest: WalletState; mustBeAdmin: string[] } | Refused {
  const barred = callerBarred(state, callerId, false);
  if (barred) return barred;
  const tx = state.transactions.get(transferId);
  const source = tx?.sourceWalletId ? state.wallets.get(tx.sourceWalletId) : undefined;
  const dest = tx?.destinationWalletId ? state.wallets.get(tx.destinationWalletId) : undefined;
  // The role as the database has it now: a token issued to a former admin grants nothing.
  const isAdmin = state.users.get(callerId)?.role === 'ADMIN';
  if (
    !tx ||
    tx.type !== 'TRANSFER' ||
    !source ||
    !dest ||
    (!isAdmin && callerId !== source.userId && callerId !== dest.userId)
  ) {
    return refuse('TRANSACTION_NOT_FOUND', 'No such transfer', false);
  }
  if (!isAdmin && callerId !== dest.userId) {
    return refuse('FORBIDDEN', 'Only the receiver or an admin can capture or void a hold', false);
  }
  if (tx.status !== 'PENDING' || !tx.heldAmount) {
    return refuse('TRANSFER_NOT_PENDING', `The transfer is ${tx.status}, not a pending hold`, false);
  }
  if (tx.holdExpiresAt && tx.holdExpiresAt <= now) {
    return refuse('TRANSFER_NOT_PENDING', 'The hold has expired', false);
  }
  // Acting as an admin on someone else's hold: the write checks the caller is still an admin.
  return { kind: 'found', tx, source, dest, mustBeAdmin: callerId === dest.userId ? [] : [callerId] };
}

/** Releases all of a hold back to the sender's available balance (money may leave no account here). */
function release(
  tx: TxRecord,
  source: WalletState,
  reason: 'VOIDED' | 'EXPIRED',
  now: Date,
  mustBeActive: string[],
  mustBeAdmin: string[],
): Accepted {
  const held = tx.heldAmount as Money;
  const settled: TxRecord = { ...tx, status: 'FAILED', failureReason: reason, completedAt: now };
  const unreserve: WalletDelta = {
    walletId: source.id,
    balance: Money.ZERO,
    held: held.neg(),
    requireActive: false,
  };
  return accept(settled, false, [unreserve], {
    settle: { id: tx.id, status: 'FAILED', amount: tx.amount, failureReason: reason, at: now },
    mustBeActive,
    mustBeAdmin,
    usage: usageDeltas(source, held.neg(), -1, tx.createdAt),
  });
}
