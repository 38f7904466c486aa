import type { EntityManager } from 'typeorm';
import { Money } from '../common/money/money';

/** A wallet's money columns, as they stand under its lock. */
export interface LockedWallet {
  id: string;
  userId: string;
  currency: string;
  balance: Money;
  held: Money;
  overdraftLimit: Money;
}

/**
 * Locks a wallet and bumps its version, inside the caller's transaction. Limits, their usage and monitors
 * change only this way: the engine's write checks the version of every wallet it changes, so a movement
 * decided against the old limits or monitors conflicts and is decided again (never an overshoot, never a
 * crossing missed). `overdraftLimit` (numeric text), when given, is set in the same update.
 */
export async function lockWallet(
  m: EntityManager,
  by: { walletId: string } | { userId: string },
  overdraftLimit?: string,
): Promise<LockedWallet | undefined> {
  const where = 'walletId' in by ? 'id = $1' : 'user_id = $1';
  const [rows] = await m.query<[Array<Record<string, string>>, number]>(
    `UPDATE wallets SET version = version + 1, overdraft_limit = COALESCE($2::numeric, overdraft_limit)
      WHERE ${where}
      RETURNING id, user_id, currency, balance::text, held::text, overdraft_limit::text`,
    ['walletId' in by ? by.walletId : by.userId, overdraftLimit ?? null],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id,
    userId: row.user_id,
    currency: row.currency,
    balance: Money.fromDb(row.balance),
    held: Money.fromDb(row.held),
    overdraftLimit: Money.fromDb(row.overdraft_limit),
  };
}

/** What the wallet can spend: balance less open holds plus its overdraft (contract v1.2). */
export function availableOf(w: { balance: Money; held: Money; overdraftLimit: Money }): Money {
  return w.balance.minus(w.held).plus(w.overdraftLimit);
}
