import { Money } from '../common/money/money';

export type TransactionType = 'TRANSFER' | 'DEPOSIT' | 'WITHDRAWAL' | 'REFUND';
export type TransactionStatus = 'PENDING' | 'COMPLETED' | 'FAILED';

/** How long an uncaptured hold lives: the contract's default (7 days) and longest (30 days). */
export const HOLD_SECONDS = { default: 604800, max: 2592000 } as const;

/**
 * The one declaration of a transaction's columns. The SELECT list, the JSON form, the INSERT column list
 * and its parameters, and the row mapping are all derived from it, so adding a column is one line here
 * (and a migration). `kind` says how a value travels: money as numeric text (no JS number ever holds an
 * amount), instants as timestamptz.
 */
const FIELDS = {
  id: { column: 'id', kind: 'uuid' },
  type: { column: 'type', kind: 'text' },
  status: { column: 'status', kind: 'text' },
  sourceWalletId: { column: 'source_wallet_id', kind: 'uuid' },
  destinationWalletId: { column: 'destination_wallet_id', kind: 'uuid' },
  amount: { column: 'amount', kind: 'money' },
  heldAmount: { column: 'held_amount', kind: 'money' },
  currency: { column: 'currency', kind: 'text' },
  description: { column: 'description', kind: 'text' },
  reference: { column: 'reference', kind: 'text' },
  failureReason: { column: 'failure_reason', kind: 'text' },
  initiatedBy: { column: 'initiated_by', kind: 'uuid' },
  holdExpiresAt: { column: 'hold_expires_at', kind: 'instant' },
  createdAt: { column: 'created_at', kind: 'instant' },
  completedAt: { column: 'completed_at', kind: 'instant' },
  metadata: { column: 'metadata', kind: 'json' },
  refundedAmount: { column: 'refunded_amount', kind: 'money' },
  originalTransactionId: { column: 'original_transaction_id', kind: 'uuid' },
} as const;

type Fields = typeof FIELDS;
type Field = keyof Fields;

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
  /** The client's own string keys (contract v1.1), `{}` when none. */
  metadata: Record<string, string>;
  /** What refunds of this transfer have moved back so far. */
  refundedAmount: Money;
  /** A REFUND's transfer. */
  originalTransactionId: string | null;
}

/** A row of `transactions` as TX_COLUMNS or TX_JSON give it: snake-case names, numeric as text. */
export type TxRow = { [F in Field as Fields[F]['column']]: string | Date | null | Record<string, string> } & {
  id: string;
  type: TransactionType;
  status: TransactionStatus;
};

const entries = Object.entries(FIELDS) as Array<[Field, Fields[Field]]>;

const SQL_TYPE = {
  uuid: 'uuid',
  text: 'text',
  money: 'numeric',
  instant: 'timestamptz',
  json: 'jsonb',
} as const;

function selectExpr(column: string, kind: Fields[Field]['kind']): string {
  return kind === 'money' ? `t.${column}::text` : `t.${column}`;
}

/** SELECT list giving a TxRow, for a query over `transactions t`. */
export const TX_COLUMNS = entries
  .map(([, f]) => (f.kind === 'money' ? `${selectExpr(f.column, f.kind)} AS ${f.column}` : `t.${f.column}`))
  .join(', ');

/** The same as one JSON object, for reads that fold several results into one round trip. */
export const TX_JSON = `json_build_object(${entries
  .map(([, f]) => `'${f.column}', ${selectExpr(f.column, f.kind)}`)
  .join(', ')})`;

/** The INSERT column list, in the order of `txInsertArrays`. */
export const TX_INSERT_COLUMNS = entries.map(([, f]) => f.column).join(', ');

/** `unnest($a::uuid[], $b::text[], ...)` over the given placeholders, one per column, for set-based inserts. */
export function txUnnest(placeholders: string[]): string {
  return `unnest(${entries.map(([, f], i) => `${placeholders[i]}::${SQL_TYPE[f.kind]}[]`).join(', ')})`;
}

/** One array per column (in TX_INSERT_COLUMNS order) holding the records' values as the driver sends them. */
export function txInsertArrays(records: TxRecord[]): unknown[][] {
  return entries.map(([prop, f]) =>
    records.map((r) => {
      const value = r[prop];
      if (value === null) return null;
      if (f.kind === 'money') return (value as Money).toFixed4();
      if (f.kind === 'instant') return (value as Date).toISOString();
      if (f.kind === 'json') return JSON.stringify(value);
      return value as string;
    }),
  );
}

export function txFromRow(row: TxRow): TxRecord {
  const out: Record<string, unknown> = {};
  for (const [prop, f] of entries) {
    const value = row[f.column];
    if (value === null || value === undefined) out[prop] = null;
    else if (f.kind === 'money') out[prop] = Money.fromDb(value as string);
    else if (f.kind === 'instant') out[prop] = new Date(value as string | Date);
    else out[prop] = value;
  }
  return out as unknown as TxRecord;
}
