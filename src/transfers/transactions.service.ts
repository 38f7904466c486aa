import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../common/auth/auth-user';
import { AppError } from '../common/errors/error-codes';
import { parseInstant } from '../common/http/instant';
import { Money } from '../common/money/money';
import { WalletsService } from '../wallets/wallets.service';
import type { BalanceDto, BalanceQueryDto } from './dto/balance.dto';
import type { HistoryQueryDto } from './dto/history-query.dto';
import type { ReconciliationDto } from './dto/reconciliation.dto';
import { type StatementPageDto, TransactionDto } from './dto/transaction.dto';
import { CsvExports } from './csv-exports';
import { accountStatementCsv, accountStatementItem } from './account-statement-csv';
import { txFromRow } from './transaction.record';
import {
  type AccountStatementFilter,
  TransactionsRepository,
  type WalletOwner,
} from './transactions.repository';

const CURSOR = /^s:([0-9]{1,19})$/;
/** seq is a bigint: a larger number in a cursor would make PostgreSQL refuse the query (a 500). */
const MAX_SEQ = 9223372036854775807n;

function encodeCursor(seq: string): string {
  return Buffer.from(`s:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const match = /^[A-Za-z0-9_-]+$/.test(cursor)
    ? CURSOR.exec(Buffer.from(cursor, 'base64url').toString())
    : null;
  if (!match || BigInt(match[1]) > MAX_SEQ) {
    throw new AppError('VALIDATION_FAILED', 'cursor is not a cursor this service issued', {
      errors: [{ field: 'cursor', message: 'is not valid' }],
    });
  }
  return match[1];
}

/** The DTO lets through only what parseInstant reads; a filter is never dropped silently all the same. */
function instant(field: string, value: string): Date {
  const date = parseInstant(value);
  if (!date) {
    throw new AppError('VALIDATION_FAILED', `${field} is not a date or date-time`, {
      errors: [{ field, message: 'is not a date or date-time' }],
    });
  }
  return date;
}

/** The filters an account statement query names, for the JSON page and the CSV alike. */
function accountStatementFilter(q: HistoryQueryDto): AccountStatementFilter {
  return {
    status: q.status,
    type: q.type,
    direction: q.direction,
    from: q.from ? instant('from', q.from) : undefined,
    to: q.to ? instant('to', q.to) : undefined,
    metadata: q.metadata,
  };
}

/** Reads of money history: account statements, single transactions, reconciliation. */
@Injectable()
export class TransactionsService {
  constructor(
    private readonly transactions: TransactionsRepository,
    private readonly wallets: WalletsService,
    private readonly exports: CsvExports,
  ) {}

  /** A transfer for one of its parties or an admin; 404 for anyone else (never reveal that it exists). */
  async getForCaller(caller: AuthUser, id: string): Promise<TransactionDto> {
    const row = await this.transactions.getById(id);
    const party = row && (row.source_user_id === caller.id || row.destination_user_id === caller.id);
    if (!row || (row.type !== 'TRANSFER' && row.type !== 'REFUND') || (!party && caller.role !== 'ADMIN')) {
      throw new AppError('TRANSACTION_NOT_FOUND', 'No such transfer');
    }
    return TransactionDto.from(txFromRow(row));
  }

  async accountStatement(caller: AuthUser, q: HistoryQueryDto): Promise<StatementPageDto> {
    const limit = q.limit ?? 20;
    const { walletId, rows } = await this.transactions.history({
      ...accountStatementFilter(q),
      userId: caller.id,
      beforeSeq: q.cursor ? decodeCursor(q.cursor) : undefined,
      limit: limit + 1,
    });
    if (walletId === null) throw WalletsService.noWallet();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(accountStatementItem),
      nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null,
    };
  }

  /**
   * The whole filtered account statement as CSV, streamed from a database cursor (`limit` and `cursor` do not
   * apply), within the bounds CsvExports keeps (429 past them; `socket`: the reader's, cut off when it
   * stalls). The wallet is looked up first, so that a caller without one gets a 404 rather than a CSV.
   */
  async accountStatementCsv(caller: AuthUser, q: HistoryQueryDto, socket?: Socket): Promise<Readable> {
    const filter = accountStatementFilter(q);
    const release = this.exports.begin(caller.id);
    try {
      const wallet = await this.wallets.getMine(caller.id);
      const client = await this.exports.connect(caller.id);
      const csv = accountStatementCsv(this.transactions.streamAccountStatement(client, wallet.id, filter));
      return this.exports.watch(csv, release, socket);
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * A wallet's settled balance at an instant (default: now); 404 WALLET_NOT_FOUND when there is no wallet.
   * `readerId`: who asks (read-your-writes, see ReadRouter).
   */
  async balanceAt(owner: WalletOwner, q: BalanceQueryDto, readerId: string): Promise<BalanceDto> {
    const at = q.at === undefined ? new Date() : instant('at', q.at);
    const row = await this.transactions.balanceAt(owner, at, readerId);
    if (!row) {
      throw 'userId' in owner
        ? WalletsService.noWallet()
        : new AppError('WALLET_NOT_FOUND', 'No such wallet');
    }
    return {
      walletId: row.wallet_id,
      currency: row.currency,
      balance: Money.fromDb(row.balance).toFixed4(),
      at: at.toISOString(),
    };
  }

  async reconciliation(): Promise<ReconciliationDto> {
    const [totals, mismatches] = await Promise.all([
      this.transactions.currencyTotals(),
      this.transactions.walletMismatches(),
    ]);
    const currencies = totals.map((t) => ({
      currency: t.currency,
      totalBalances: Money.fromDb(t.total_balances).toFixed4(),
      totalHeld: Money.fromDb(t.total_held).toFixed4(),
      totalDeposits: Money.fromDb(t.total_deposits).toFixed4(),
      totalWithdrawals: Money.fromDb(t.total_withdrawals).toFixed4(),
      ok: Money.fromDb(t.total_balances).eq(
        Money.fromDb(t.total_deposits).minus(Money.fromDb(t.total_withdrawals)),
      ),
    }));
    const walletMismatches = mismatches.map((m) => ({
      walletId: m.wallet_id,
      balance: Money.fromDb(m.balance).toFixed4(),
      ledgerTotal: Money.fromDb(m.ledger).toFixed4(),
      held: Money.fromDb(m.held).toFixed4(),
      openHolds: Money.fromDb(m.open_holds).toFixed4(),
    }));
    return {
      ok: currencies.every((c) => c.ok) && walletMismatches.length === 0,
      checkedAt: new Date().toISOString(),
      currencies,
      walletMismatches,
    };
  }
}
