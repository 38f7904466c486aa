import { AppError, type ErrorCode } from '../../common/errors/error-codes';
import { Money } from '../../common/money/money';
import { HOLD_SECONDS, type TxRecord } from '../transaction.record';
import type {
  Accepted,
  Decision,
  EngineState,
  Movement,
  Refused,
  WalletDelta,
  WalletState,
} from './engine.types';

/**
 * The movement rules: a pure function of (state, movement) to one decision. No I/O, no clock, no random:
 * the time and new ids come in the context, so every refusal can be unit-tested without a database and a
 * batch of movements can be decided one after another against the same in-memory state.
 */
export interface RuleContext {
  now: Date;
  newId: () => string;
}

export const SYSTEM_USER_ID = '00000000-0000-0000-0000-000000000000';

export function decide(state: EngineState, m: Movement, ctx: RuleContext): Decision {
  switch (m.kind) {
    case 'transfer':
      return decideTransfer(state, m, ctx);
    case 'deposit':
      return decideDeposit(state, m, ctx);
    case 'withdrawal':
      return decideWithdrawal(state, m, ctx);
    case 'capture':
      return decideCapture(state, m, ctx);
    case 'void':
      return decideVoid(state, m, ctx);
    case 'expiry':
      return decideExpiry(state, m, ctx);
    case 'refund':
      return decideRefund(state, m, ctx);
    case 'batch':
      throw new Error('a batch is decided item by item (movement-engine.ts)');
  }
}

function decideTransfer(
  state: EngineState,
  m: Extract<Movement, { kind: 'transfer' }>,
  ctx: RuleContext,
): Decision {
  const source = walletOf(state, m.caller.id);
  if (!source) return refuse('WALLET_NOT_FOUND', 'You have no wallet yet', false);
  const dest = state.wallets.get(m.toWalletId);
  if (!dest) return refuse('WALLET_NOT_FOUND', 'The destination wallet does not exist', false);
  if (dest.id === source.id) return refuse('SAME_WALLET', 'You cannot transfer to your own wallet');
  const mismatch = [source, dest].find((w) => w.currency !== m.currency);
  if (mismatch) {
    const which = mismatch === source ? 'source' : 'destination';
    return refuse('CURRENCY_MISMATCH', `The ${which} wallet holds ${mismatch.currency}`);
  }
  const hold = m.hold === true;
  const now = ctx.now;
  const tx: TxRecord = {
    id: ctx.newId(),
    type: 'TRANSFER',
    status: hold ? 'PENDING' : 'COMPLETED',
    sourceWalletId: source.id,
    destinationWalletId: dest.id,
    amount: m.amount,
    heldAmount: hold ? m.amount : null,
    currency: m.currency,
    description: m.description ?? null,
    reference: null,
    failureReason: null,
    initiatedBy: m.caller.id,
    holdExpiresAt: hold
      ? new Date(now.getTime() + (m.holdExpiresInSeconds ?? HOLD_SECONDS.default) * 1000)
      : null,
    createdAt: now,
    completedAt: hold ? null : now,
    ...fresh(m.metadata),
  };
  const inactive = inactiveParty([source, dest]);
  if (inactive) return refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, now);
  if (available(source).lt(m.amount)) {
    return refuseRecorded('INSUFFICIENT_FUNDS', 'The wallet does not have enough available funds', tx, now);
  }
  if (!dest.balance.plus(m.amount).fitsBalance()) {
    return refuse('BALANCE_LIMIT_EXCEEDED', 'The destination balance would pass 14 integer digits');
  }
  if (hold) {
    // A hold changes only the sender's wallet; the receiver must still be ACTIVE when it is written.
    const reserve: WalletDelta = {
      walletId: source.id,
      balance: Money.ZERO,
      held: m.amount,
      requireActive: true,
    };
    return accept(tx, true, [reserve], { mustBeActive: [dest.userId] });
  }
  return accept(tx, true, [debit(source, m.amount), credit(dest, m.amount)]);
}

function decideDeposit(
  state: EngineState,
  m: Extract<Movement, { kind: 'deposit' }>,
  ctx: RuleContext,
): Decision {
  const barred = callerBarred(state, m.caller.id, true);
  if (barred) return barred;
  const wallet = state.wallets.get(m.walletId);
  if (!wallet) return refuse('WALLET_NOT_FOUND', 'The wallet does not exist', false);
  if (wallet.currency !== m.currency)
    return refuse('CURRENCY_MISMATCH', `The wallet holds ${wallet.currency}`);
  const tx = cashRecord('DEPOSIT', m.caller.id, null, wallet.id, m, ctx.now, ctx.newId());
  const inactive = inactiveParty([wallet]);
  if (inactive) return refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, ctx.now);
  if (!wallet.balance.plus(m.amount).fitsBalance()) {
    return refuse('BALANCE_LIMIT_EXCEEDED', 'The balance would pass 14 integer digits');
  }
  return accept(tx, true, [credit(wallet, m.amount)], {
    mustBeActive: [m.caller.id],
    mustBeAdmin: [m.caller.id],
  });
}

function decideWithdrawal(
  state: EngineState,
  m: Extract<Movement, { kind: 'withdrawal' }>,
  ctx: RuleContext,
): Decision {
  const wallet = walletOf(state, m.caller.id);
  if (!wallet) return refuse('WALLET_NOT_FOUND', 'You have no wallet yet', false);
  if (wallet.currency !== m.currency)
    return refuse('CURRENCY_MISMATCH', `The wallet holds ${wallet.currency}`);
  const tx = cashRecord('WITHDRAWAL', m.caller.id, wallet.id, null, m, ctx.now, ctx.newId());
  const inactive = inactiveParty([wallet]);
  if (inactive) return refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, ctx.now);
  if (available(wallet).lt(m.amount)) {
    return refuseRecorded(
      'INSUFFICIENT_FUNDS',
      'The wallet does not have enough available funds',
      tx,
      ctx.now,
    );
  }
  return accept(tx, true, [debit(wallet, m.amount)]);
}

/** Settles a hold: moves `amount` (default all that is held) and releases the rest. */
function decideCapture(
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
  });
}

function decideVoid(state: EngineState, m: Extract<Movement, { kind: 'void' }>, ctx: RuleContext): Decision {
  const found = pendingHold(state, m.caller.id, m.transactionId, ctx.now);
  if (found.kind === 'refused') return found;
  return release(found.tx, found.source, 'VOIDED', ctx.now, [m.caller.id], found.mustBeAdmin);
}

/** Voids a hold past its expiry (the expiry job); anything else is TRANSFER_NOT_PENDING, never stored. */
function decideExpiry(
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

/**
 * Refunds a completed transfer, fully (default: all not yet refunded) or partly, from the receiver's wallet
 * back to the sender's. Refunds of one transfer never total more than its amount: the write checks the
 * refunded amount the rules saw, so concurrent refunds cannot both pass.
 */
function decideRefund(
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

// --- the rules shared by several movements ---

/** The v1.1 columns of a transaction that has just been made. */
function fresh(
  metadata: Record<string, string> | undefined,
): Pick<TxRecord, 'metadata' | 'refundedAmount' | 'originalTransactionId'> {
  return { metadata: metadata ?? {}, refundedAmount: Money.ZERO, originalTransactionId: null };
}

/**
 * The caller of a deposit, capture or void must be ACTIVE (and, for a deposit, an admin) as the database
 * has them now. A sender is not checked here: an inactive sender is a party, refused 422 and recorded.
 */
function callerBarred(state: EngineState, callerId: string, admin: boolean): Refused | undefined {
  const user = state.users.get(callerId);
  if (user?.status !== 'ACTIVE')
    return refuse('ACCOUNT_INACTIVE', `Your account is ${user?.status ?? 'gone'}`, false);
  if (admin && user.role !== 'ADMIN') return refuse('FORBIDDEN', 'Only an admin can do this', false);
  return undefined;
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
  });
}

function walletOf(state: EngineState, userId: string): WalletState | undefined {
  const id = state.walletOfUser.get(userId);
  return id === undefined ? undefined : state.wallets.get(id);
}

function inactiveParty(wallets: WalletState[]): string | undefined {
  const inactive = wallets.find((w) => w.userStatus !== 'ACTIVE');
  return inactive ? `The owner of wallet ${inactive.id} is ${inactive.userStatus}` : undefined;
}

function cashRecord(
  type: 'DEPOSIT' | 'WITHDRAWAL',
  callerId: string,
  source: string | null,
  dest: string | null,
  m: { amount: Money; currency: string; reference?: string; metadata?: Record<string, string> },
  now: Date,
  id: string,
): TxRecord {
  return {
    id,
    type,
    status: 'COMPLETED',
    sourceWalletId: source,
    destinationWalletId: dest,
    amount: m.amount,
    heldAmount: null,
    currency: m.currency,
    description: null,
    reference: m.reference ?? null,
    failureReason: null,
    initiatedBy: callerId,
    holdExpiresAt: null,
    createdAt: now,
    completedAt: now,
    ...fresh(m.metadata),
  };
}

function refuse(code: ErrorCode, detail: string, store = true): Refused {
  return { kind: 'refused', error: new AppError(code, detail), store };
}

/** A refusal kept as a FAILED transaction (insufficient funds, inactive party), with its id in the 422. */
function refuseRecorded(
  code: 'INSUFFICIENT_FUNDS' | 'ACCOUNT_INACTIVE_PARTY',
  detail: string,
  tx: TxRecord,
  now: Date,
): Refused {
  const reason = code === 'ACCOUNT_INACTIVE_PARTY' ? 'ACCOUNT_INACTIVE' : code;
  const record: TxRecord = {
    ...tx,
    status: 'FAILED',
    failureReason: reason,
    heldAmount: null,
    holdExpiresAt: null,
    completedAt: now,
  };
  return {
    kind: 'refused',
    error: new AppError(code, detail, { fields: { transactionId: record.id } }),
    store: true,
    record,
  };
}

function accept(
  transaction: TxRecord,
  created: boolean,
  changes: WalletDelta[],
  extra: Partial<Pick<Accepted, 'settle' | 'mustBeActive' | 'mustBeAdmin'>> = {},
): Accepted {
  return {
    kind: 'accepted',
    transaction,
    created,
    changes,
    settle: extra.settle,
    mustBeActive: extra.mustBeActive ?? [],
    mustBeAdmin: extra.mustBeAdmin ?? [],
  };
}

function available(w: WalletState): Money {
  return w.balance.minus(w.held);
}

function debit(w: WalletState, amount: Money): WalletDelta {
  return {
    walletId: w.id,
    balance: amount.neg(),
    held: Money.ZERO,
    ledger: amount.neg(),
    requireActive: true,
  };
}

function credit(w: WalletState, amount: Money): WalletDelta {
  return { walletId: w.id, balance: amount, held: Money.ZERO, ledger: amount, requireActive: true };
}
