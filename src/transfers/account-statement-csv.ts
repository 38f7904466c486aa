import { pipeline, type Readable, Transform } from 'node:stream';
import { stringify } from 'csv-stringify';
import { Money } from '../common/money/money';
import { type StatementItemDto, TransactionDto } from './dto/transaction.dto';
import { txFromRow } from './transaction.record';
import type { HistoryRow } from './transactions.repository';

export const CSV_MEDIA_TYPE = 'text/csv';

/**
 * The CSV columns, in order: every field of a Transaction, then the account statement's own two. The header row
 * spells them as the JSON form does, so a column means what the field of the same name means.
 */
export const ACCOUNT_STATEMENT_CSV_COLUMNS = [
  'id',
  'type',
  'status',
  'direction',
  'amount',
  'balanceAfter',
  'currency',
  'sourceWalletId',
  'destinationWalletId',
  'heldAmount',
  'refundedAmount',
  'originalTransactionId',
  'description',
  'reference',
  'failureReason',
  'metadata',
  'holdExpiresAt',
  'createdAt',
  'completedAt',
] as const satisfies ReadonlyArray<keyof StatementItemDto>;

/** One account statement item as the JSON form gives it: the transaction, its direction and the balance after it. */
export function accountStatementItem(row: HistoryRow): StatementItemDto {
  return {
    ...TransactionDto.from(txFromRow(row)),
    direction: row.direction,
    balanceAfter:
      row.status === 'COMPLETED' && row.balance_after !== null
        ? Money.fromDb(row.balance_after).toFixed4()
        : null,
  };
}

/** An item as one CSV record: every value a string (money as in JSON, 4 decimals), null as an empty field. */
function csvRecord(item: StatementItemDto): string[] {
  return ACCOUNT_STATEMENT_CSV_COLUMNS.map((column) => {
    const value = item[column];
    if (value === null) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

/**
 * An account statement read from a cursor (HistoryRow objects), as CSV: a header row, then one record per row,
 * CRLF-terminated and quoted where RFC 4180 asks (a field with a comma, a quote or a line break). A field
 * starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` (OWASP's advice against formula injection:
 * the file is meant for spreadsheets). Back-pressure runs through the whole pipeline, so memory stays flat;
 * when the reader goes away, every stage is destroyed, the cursor first.
 */
export function accountStatementCsv(rows: Readable): Readable {
  const records = new Transform({
    objectMode: true,
    transform(row: HistoryRow, _encoding, done) {
      done(null, csvRecord(accountStatementItem(row)));
    },
  });
  const csv = stringify({
    header: true,
    columns: [...ACCOUNT_STATEMENT_CSV_COLUMNS],
    record_delimiter: 'windows',
    escape_formulas: true,
  });
  // The error, if any, also destroys the last stage, and the HTTP layer ends the response on it.
  return pipeline(rows, records, csv, () => undefined);
}

/**
 * Whether a request's Accept header asks for the CSV form: `text/csv` named with a weight at least that of
 * `application/json` (anything else, `*\/*` or no header, gets JSON).
 */
export function acceptsCsv(accept: string | undefined): boolean {
  const weight = (type: string): number => {
    for (const part of (accept ?? '').split(',')) {
      const [range, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
      if (range !== type) continue;
      const q = params.find((p) => p.startsWith('q='));
      const value = q ? Number(q.slice(2)) : 1;
      return Number.isFinite(value) ? value : 0;
    }
    return 0;
  };
  const csv = weight(CSV_MEDIA_TYPE);
  return csv > 0 && csv >= weight('application/json');
}
