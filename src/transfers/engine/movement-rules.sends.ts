import { Money } from '../../common/money/money';
import { HOLD_SECONDS, type TxRecord } from '../transaction.record';
import type { Decision, EngineState, Movement, WalletDelta } from './engine.types';
import { brokenLimit, usageDeltas } from './movement-rules.limits';
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
  walletOf,
  type RuleContext,
} from './movement-rules.shared';

/**
 * The movements that bring money in or send it out: transfers (and holds), deposits, withdrawals.
 * Checks run in the contract's order: wallets, currency, status, limits, funds.
 */

export function decideTransfer(
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
  const limit = brokenLimit(source, m.amount, now);
  if (limit)
    return refuseRecorded('LIMIT_EXCEEDED', `The ${limit.window} limit would be exceeded`, tx, now, {
      limit,
    });
  if (available(source).lt(m.amount)) {
    return refuseRecorded('INSUFFICIENT_FUNDS', 'The wallet does not have enough available funds', tx, now);
  }
  if (!dest.balance.plus(m.amount).fitsBalance()) {
    return refuse('BALANCE_LIMIT_EXCEEDED', 'The destination balance would pass 14 integer digits');
  }
  // A hold counts against the limits when it is placed, like a transfer when it completes.
  const usage = usageDeltas(source, m.amount, 1, now);
  if (hold) {
    // A hold changes only the sender's wallet; the receiver must still be ACTIVE when it is written.
    const reserve: WalletDelta = {
      walletId: source.id,
      balance: Money.ZERO,
      held: m.amount,
      requireActive: true,
    };
    return accept(tx, true, [reserve], { mustBeActive: [dest.userId], usage });
  }
  return accept(tx, true, [debit(source, m.amount), credit(dest, m.amount)], { usage });
}

export function decideDeposit(
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

export function decideWithdrawal(
  state: EngineState,
  m: Extract<Movement, { kind: 'withdrawal' }>,
  ctx: RuleContext,
): Decision {
  const wallet = walletOf(state, m.caller.id);
  if (!wallet) return refuse('WALLET_NOT_FOUND', 'You have no wallet yet', false);
  if (wallet.currency !== m.currency)
    return refuse('CURRENCY_MISMATCH', `The wallet holds ${wallet.currency}`);
  const now = ctx.now;
  const tx = cashRecord('WITHDRAWAL', m.caller.id, wallet.id, null, m, now, ctx.newId());
  const inactive = inactiveParty([wallet]);
  if (inactive) return refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, now);
  const limit = brokenLimit(wallet, m.amount, now);
  if (limit)
    return refuseRecorded('LIMIT_EXCEEDED', `The ${limit.window} limit would be exceeded`, tx, now, {
      limit,
    });
  if (available(wallet).lt(m.amount)) {
    return refuseRecorded('INSUFFICIENT_FUNDS', 'The wallet does not have enough available funds', tx, now);
  }
  return accept(tx, true, [debit(wallet, m.amount)], { usage: usageDeltas(wallet, m.amount, 1, now) });
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
