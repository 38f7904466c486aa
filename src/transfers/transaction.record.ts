import { Money } from '../common/money/money';
import type { TransactionStatus, TransactionType } from './transaction.entity';

/** A transaction as the engine and the mappers see it, whatever it was read from. */
export interface TxRecord {
  id: string;
  type: TransactionType;
  status: TransactionStatus;
  sourceWalletId: string | null;
  destinationWalletId: string | null;
  amount: Money;
  heldAmount: Money | null;
  currency: string;
  description: string | null;
  reference: string | null;
  failureReason: string | null;
  initiatedBy: string | null;
  holdExpiresAt: Date | null;
  createdAt: Date;
  completedAt: Date | null;
}

/** Row of `transactions` as returned by raw SQL or json_build_object (numeric columns cast to text). */
export interface TxRow {
  id: string;
  type: TransactionType;
  status: TransactionStatus;
  source_wallet_id: string | null;
  destination_wallet_id: string | null;
  amount: string;
  held_amount: string | null;
  currency: string;
  description: string | null;
  reference: string | null;
  failure_reason: string | null;
  initiated_by: string | null;
  hold_expires_at: string | Date | null;
  created_at: string | Date;
  completed_at: string | Date | null;
}

const date = (v: string | Date | null): Date | null => (v === null ? null : new Date(v));

export function txFromRow(r: TxRow): TxRecord {
  return {
    id: r.id,
    type: r.type,
    status: r.status,
    sourceWalletId: r.source_wallet_id,
    destinationWalletId: r.destination_wallet_id,
    amount: Money.fromDb(String(r.amount)),
    heldAmount: r.held_amount === null ? null : Money.fromDb(String(r.held_amount)),
    currency: r.currency,
    description: r.description,
    reference: r.reference,
    failureReason: r.failure_reason,
    initiatedBy: r.initiated_by,
    holdExpiresAt: date(r.hold_expires_at),
    createdAt: date(r.created_at) as Date,
    completedAt: date(r.completed_at),
  };
}

/** SELECT list giving a TxRow (numeric as text so no JS number ever holds an amount). */
export const TX_COLUMNS = `t.id, t.type, t.status, t.source_wallet_id, t.destination_wallet_id, t.amount::text AS amount,
  t.held_amount::text AS held_amount, t.currency, t.description, t.reference, t.failure_reason, t.initiated_by,
  t.hold_expires_at, t.created_at, t.completed_at`;

/** The same as a JSON object, for reads that fold several results into one round trip. */
export const TX_JSON = `json_build_object('id', t.id, 'type', t.type, 'status', t.status,
  'source_wallet_id', t.source_wallet_id, 'destination_wallet_id', t.destination_wallet_id,
  'amount', t.amount::text, 'held_amount', t.held_amount::text, 'currency', t.currency,
  'description', t.description, 'reference', t.reference, 'failure_reason', t.failure_reason,
  'initiated_by', t.initiated_by, 'hold_expires_at', t.hold_expires_at, 'created_at', t.created_at,
  'completed_at', t.completed_at)`;
