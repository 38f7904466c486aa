import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import QueryStream from 'pg-query-stream';
import type { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import { ReadRouter } from '../database/replicas';
import { TX_COLUMNS, type TxRow } from './transaction.record';

/** What narrows an account statement, in the JSON and the CSV form alike. */
export interface AccountStatementFilter {
  /** Only rows older than this seq (the cursor). */
  beforeSeq?: string;
  status?: string;
  type?: string;
  direction?: 'DEBIT' | 'CREDIT';
  from?: Date;
  to?: Date;
  /** `metadata.<key>=<value>` filters in the order given: the first is read from the metadata index. */
  metadata?: Array<[key: string, value: string]>;
}

export interface HistoryFilter extends AccountStatementFilter {
  /** The owner of the wallet whose account statement this is (one wallet per user). */
  userId: string;
  limit: number;
}

export type HistoryRow = TxRow & { seq: string; direction: 'DEBIT' | 'CREDIT'; balance_after: string | null };

/** Whose point-in-time balance: the caller's own wallet (by user) or any wallet (admins, by id). */
export type WalletOwner = { userId: string } | { walletId: string };

export interface BalanceAtRow {
  wallet_id: string;
  currency: string;
  balance: string;
}

/** Rows a CSV account statement fetches from its cursor per round trip: memory stays flat at any length. */
const STREAM_BATCH = 500;

export interface WalletMismatchRow {
  wallet_id: string;
  balance: string;
  ledger: string;
  held: string;
  open_holds: string;
}

export interface CurrencyTotals {
  currency: string;
  total_balances: string;
  total_held: string;
  total_deposits: string;
  total_withdrawals: string;
}

/**
 * Read-only queries over transactions and ledger entries. Statements, CSV exports and point-in-time
 * balances run where the ReadRouter sends them (a streaming replica that has replayed the reader's last
 * write, else the primary); the rest on the primary.
 */
@Injectable()
export class TransactionsRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly reads: ReadRouter,
  ) {}

  async getById(
    id: string,
  ): Promise<(TxRow & { source_user_id: string | null; destination_user_id: string | null }) | null> {
    const rows = await this.dataSource.query<
      Array<TxRow & { source_user_id: string | null; destination_user_id: string | null }>
    >(
      `SELECT ${TX_COLUMNS}, sw.user_id AS source_user_id, dw.user_id AS destination_user_id
         FROM transactions t
         LEFT JOIN wallets sw ON sw.id = t.source_wallet_id
         LEFT JOIN wallets dw ON dw.id = t.destination_wallet_id
        WHERE t.id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /**
   * One page of a user's account statement, newest first, by keyset on seq, in one round trip with the
   * wallet look-up. `walletId` is null when the user has no wallet.
   */
  async history(f: HistoryFilter): Promise<{ walletId: string | null; rows: HistoryRow[] }> {
    const { text, params } = historyQuery(f);
    const rows = await this.reads.query<HistoryRow & { wallet_id: string }>(f.userId, text, params);
    if (rows.length === 0) return { walletId: null, rows: [] };
    return { walletId: rows[0].wallet_id, rows: rows[0].id === null ? [] : rows };
  }

  /**
   * A wallet's whole account statement (no page), newest first, as a stream of HistoryRow read from a cursor on
   * `client`, a connection of its own (see CsvExports), released when the cursor closes: read to the end,
   * or destroyed because the reader went away. One that failed is discarded rather than reused.
   */
  streamAccountStatement(client: PoolClient, walletId: string, f: AccountStatementFilter): Readable {
    const { text, params } = accountStatementStreamQuery(walletId, f);
    const rows = client.query(new QueryStream(text, params, { batchSize: STREAM_BATCH }));
    let released = false;
    // A connection lost while the client is out of the pool (a failover mid-export) is an 'error' on the
    // client: without a listener it would end the process.
    const lost = (err: Error): void => {
      release(err);
      rows.destroy(err);
    };
    const release = (err?: Error): void => {
      if (released) return;
      released = true;
      client.removeListener('error', lost);
      client.release(err);
    };
    client.on('error', lost);
    rows.once('error', release);
    rows.once('close', () => release());
    return rows;
  }

  /** A wallet's settled balance right after its last ledger entry at or before `at`; null: no such wallet. */
  async balanceAt(owner: WalletOwner, at: Date, readerId: string): Promise<BalanceAtRow | null> {
    const { text, params } = balanceAtQuery(owner, at);
    const rows = await this.reads.query<BalanceAtRow>(readerId, text, params);
    return rows[0] ?? null;
  }

  /** Per currency: sum of balances and holds against completed deposits and withdrawals. */
  async currencyTotals(): Promise<CurrencyTotals[]> {
    return await this.dataSource.query<CurrencyTotals[]>(
      `SELECT c.currency,
              COALESCE((SELECT sum(balance) FROM wallets w WHERE w.currency = c.currency), 0)::text AS total_balances,
              COALESCE((SELECT sum(held) FROM wallets w WHERE w.currency = c.currency), 0)::text AS total_held,
              COALESCE((SELECT sum(amount) FROM transactions t WHERE t.currency = c.currency
                          AND t.type = 'DEPOSIT' AND t.status = 'COMPLETED'), 0)::text AS total_deposits,
              COALESCE((SELECT sum(amount) FROM transactions t WHERE t.currency = c.currency
                          AND t.type = 'WITHDRAWAL' AND t.status = 'COMPLETED'), 0)::text AS total_withdrawals
         FROM (SELECT DISTINCT currency FROM wallets) c ORDER BY c.currency`,
    );
  }

  /** Wallets whose balance differs from the sum of their ledger, or whose held differs from their open holds. */
  async walletMismatches(): Promise<WalletMismatchRow[]> {
    return await this.dataSource.query<WalletMismatchRow[]>(
      `SELECT w.id AS wallet_id, w.balance::text AS balance, COALESCE(l.total, 0)::text AS ledger,
              w.held::text AS held, COALESCE(h.total, 0)::text AS open_holds
         FROM wallets w
         LEFT JOIN (SELECT wallet_id, sum(amount) AS total FROM ledger_entries GROUP BY wallet_id) l ON l.wallet_id = w.id
         LEFT JOIN (SELECT source_wallet_id, sum(held_amount) AS total FROM transactions
                     WHERE status = 'PENDING' GROUP BY source_wallet_id) h ON h.source_wallet_id = w.id
        WHERE w.balance <> COALESCE(l.total, 0) OR w.held <> COALESCE(h.total, 0)
        ORDER BY w.id LIMIT 1000`,
    );
  }

  /** Ids of PENDING holds past their expiry, oldest first. */
  async expiredHolds(now: Date, limit: number): Promise<string[]> {
    const rows = await this.dataSource.query<Array<{ id: string }>>(
      `SELECT id FROM transactions WHERE status = 'PENDING' AND hold_expires_at <= $1 ORDER BY hold_expires_at LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => r.id);
  }
}

/**
 * An account statement's rows for one wallet (`wallet`: an SQL expression), as UNION ALL branches each ordered by
 * seq, newest first, and each cut at `limit` (a placeholder) when paged.
 *
 * Without metadata filters, each side of a movement has its own index, (source, seq) and (destination, seq),
 * so each branch reads only `limit` index entries at any depth. With them, ONE branch walks the primary key
 * of transaction_metadata (wallet_id, key, value, seq) backwards for the first filter: it reads only the
 * wallet's rows tagged with that key and value, and the other filters are checked on each transaction it
 * joins (`metadata @>`). Never the wallet's whole history.
 */
function accountStatementBranches(
  f: AccountStatementFilter,
  wallet: string,
  params: unknown[],
  limit?: string,
): string {
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (f.status) where.push(`t.status = ${param(f.status)}`);
  if (f.type) where.push(`t.type = ${param(f.type)}`);
  if (f.from) where.push(`t.created_at >= ${param(f.from)}`);
  if (f.to) where.push(`t.created_at < ${param(f.to)}`);
  const cut = limit ? ` LIMIT ${limit}` : '';
  const [first, ...others] = f.metadata ?? [];
  if (first) {
    const [key, value] = first;
    const tagged = [`m.wallet_id = ${wallet}`, `m.key = ${param(key)}`, `m.value = ${param(value)}`];
    if (f.beforeSeq) tagged.push(`m.seq < ${param(f.beforeSeq)}`);
    if (others.length > 0)
      where.push(`t.metadata @> ${param(JSON.stringify(Object.fromEntries(others)))}::jsonb`);
    if (f.direction === 'DEBIT') where.push(`t.source_wallet_id = ${wallet}`);
    if (f.direction === 'CREDIT') where.push(`t.destination_wallet_id = ${wallet}`);
    return `(SELECT ${TX_COLUMNS}, m.seq,
                    CASE WHEN t.source_wallet_id = ${wallet} THEN 'DEBIT' ELSE 'CREDIT' END AS direction
               FROM transaction_metadata m JOIN transactions t ON t.id = m.transaction_id
              WHERE ${[...tagged, ...where].join(' AND ')}
              ORDER BY m.seq DESC${cut})`;
  }
  if (f.beforeSeq) where.push(`t.seq < ${param(f.beforeSeq)}`);
  const extra = where.map((w) => ` AND ${w}`).join('');
  // Unpaged, the branches stay plain (no ORDER BY): PostgreSQL then flattens the UNION ALL and merges the
  // two index scans in seq order (Merge Append) instead of sorting the whole range.
  const order = limit ? ` ORDER BY t.seq DESC${cut}` : '';
  const branch = (column: string, direction: string): string =>
    `(SELECT ${TX_COLUMNS}, t.seq, '${direction}'::text AS direction FROM transactions t
       WHERE t.${column} = ${wallet}${extra}${order})`;
  return [
    ...(f.direction !== 'CREDIT' ? [branch('source_wallet_id', 'DEBIT')] : []),
    ...(f.direction !== 'DEBIT' ? [branch('destination_wallet_id', 'CREDIT')] : []),
  ].join(' UNION ALL ');
}

/**
 * The account statement query: one page of a user's account statement, by keyset on seq, with the wallet look-up in the
 * same round trip. Each row's balance comes from one probe of the (transaction, wallet) unique index. (A
 * join to ledger_entries instead let the planner read the wallet's whole ledger for every page: 50 ms at
 * 20,000 entries and growing with the account statement.)
 */
export function historyQuery(f: HistoryFilter): { text: string; params: unknown[] } {
  const params: unknown[] = [f.userId, f.limit];
  const branches = accountStatementBranches(f, 'w.id', params, '$2');
  const text = `SELECT w.id AS wallet_id, p.*
       FROM wallets w
       LEFT JOIN LATERAL (
         SELECT h.*,
                (SELECT le.balance_after::text FROM ledger_entries le
                  WHERE le.transaction_id = h.id AND le.wallet_id = w.id) AS balance_after
           FROM (${branches}) h
          ORDER BY h.seq DESC LIMIT $2) p ON true
      WHERE w.user_id = $1
      ORDER BY p.seq DESC`;
  return { text, params };
}

/**
 * The whole filtered account statement of a wallet, newest first, for a cursor: the branches merge in seq order
 * (no sort of the whole range) and each row's balance is one index probe, so rows flow as they are read.
 */
export function accountStatementStreamQuery(
  walletId: string,
  f: AccountStatementFilter,
): { text: string; params: unknown[] } {
  const params: unknown[] = [walletId];
  const branches = accountStatementBranches(f, '$1::uuid', params);
  const text = `SELECT h.*,
              (SELECT le.balance_after::text FROM ledger_entries le
                WHERE le.transaction_id = h.id AND le.wallet_id = $1::uuid) AS balance_after
         FROM (${branches}) h
        ORDER BY h.seq DESC`;
  return { text, params };
}

/**
 * A point-in-time balance: the wallet, and the first entry of ledger_entries_wallet_time (wallet_id,
 * created_at DESC, id DESC) at or before `at`, which carries the balance right after it. One probe at any
 * depth; no entry yet: zero.
 */
export function balanceAtQuery(owner: WalletOwner, at: Date): { text: string; params: unknown[] } {
  const [column, id] = 'userId' in owner ? ['user_id', owner.userId] : ['id', owner.walletId];
  const text = `SELECT w.id AS wallet_id, w.currency, COALESCE(e.balance_after, 0)::text AS balance
       FROM wallets w
       LEFT JOIN LATERAL (
         SELECT le.balance_after FROM ledger_entries le
          WHERE le.wallet_id = w.id AND le.created_at <= $2
          ORDER BY le.created_at DESC, le.id DESC LIMIT 1) e ON true
      WHERE w.${column} = $1`;
  return { text, params: [id, at] };
}
