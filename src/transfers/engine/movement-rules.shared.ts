import { AppError, type ErrorCode } from '../../common/errors/error-codes';
import { Money } from '../../common/money/money';
import type { TxRecord } from '../transaction.record';
import type { Accepted, EngineState, Refused, WalletDelta, WalletState } from './engine.types';

/**
 * What the movement rules share: the context they run in and the small rules several movements apply.
 * No I/O, no clock, no random: the time and new ids come in the context.
 */
export interface RuleContext {
  now: Date;
  newId: () => string;
}

/** The v1.1 columns of a transaction that has just been made. */
export function fresh(
  metadata: Record<string, string> | undefined,
): Pick<TxRecord, 'metadata' | 'refundedAmount' | 'originalTransactionId'> {
  return { metadata: metadata ?? {}, refundedAmount: Money.ZERO, originalTransactionId: null };
}

/**
 * The caller of a deposit, capture or void must be ACTIVE (and, for a deposit, an admin) as the database
 * has them now. A sender is not checked here: an inactive sender is a party, refused 422 and recorded.
 */
export function callerBarred(state: EngineState, callerId: string, admin: boolean): Refused | undefined {
  const user = state.users.get(callerId);
  if (user?.status !== 'ACTIVE')
    return refuse('ACCOUNT_INACTIVE', `Your account is ${user?.status ?? 'gone'}`, false);
  if (admin && user.role !== 'ADMIN') return refuse('FORBIDDEN', 'Only an admin can do this', false);
  return undefined;
}

export function walletOf(state: EngineState, userId: string): WalletState | undefined {
  const id = state.walletOfUser.get(userId);
  return id === undefined ? undefined : state.wallets.get(id);
}

export function inactiveParty(wallets: WalletState[]): string | undefined {
  const inactive = wallets.find((w) => w.userStatus !== 'ACTIVE');
  return inactive ? `The owner of wallet ${inactive.id} is ${inactive.userStatus}` : undefined;
}

export function refuse(code: ErrorCode, detail: string, store = true): Refused {
  return { kind: 'refused', error: new AppError(code, detail), store };
}

/** The failure reason a recorded refusal keeps on its FAILED transaction. */
const REASONS = {
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  ACCOUNT_INACTIVE_PARTY: 'ACCOUNT_INACTIVE',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
} as const;

/**
 * A refusal kept as a FAILED transaction (insufficient funds, inactive party, a limit), with its id in the
 * 422 body next to any `fields` of its own (a limit refusal's `limit`).
 */
export function refuseRecorded(
  code: keyof typeof REASONS,
  detail: string,
  tx: TxRecord,
  now: Date,
  fields: Record<string, unknown> = {},
): Refused {
  const record: TxRecord = {
    ...tx,
    status: 'FAILED',
    failureReason: REASONS[code],
    heldAmount: null,
    holdExpiresAt: null,
    completedAt: now,
  };
  return {
    kind: 'refused',
    error: new AppError(code, detail, { fields: { transactionId: record.id, ...fields } }),
    store: true,
    record,
  };
}

export function accept(
  transaction: TxRecord,
  created: boolean,
  changes: WalletDelta[],
  extra: Partial<Pick<Accepted, 'settle' | 'mustBeActive' | 'mustBeAdmin' | 'usage'>> = {},
): Accepted {
  return {
    kind: 'accepted',
    transaction,
    created,
    changes,
    settle: extra.settle,
    usage: extra.usage,
    mustBeActive: extra.mustBeActive ?? [],
    mustBeAdmin: extra.mustBeAdmin ?? [],
  };
}

/** What the wallet can spend now: its balance less open holds, plus its overdraft (contract v1.2). */
export function available(w: WalletState): Money {
  return w.balance.minus(w.held).plus(w.overdraft);
}

export function debit(w: WalletState, amount: Money): WalletDelta {
  return {
    walletId: w.id,
    balance: amount.neg(),
    held: Money.ZERO,
    ledger: amount.neg(),
    requireActive: true,
  };
}

export function credit(w: WalletState, amount: Money): WalletDelta {
  return { walletId: w.id, balance: amount, held: Money.ZERO, ledger: amount, requireActive: true };
}
