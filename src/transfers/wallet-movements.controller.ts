import { Body, Controller, Get, Headers, Param, Post, Query, Req, Res, StreamableFile } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AuthUser, CurrentUser } from '../common/auth/auth-user';
import { StatusCheckedByHandler } from '../common/auth/status-checked-by-handler.decorator';
import { Roles } from '../common/auth/roles.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { answer, Idempotency, type IdempotencyHeader } from './idempotency';
import { UUID_PARAM } from '../common/http/params';
import { Money } from '../common/money/money';
import { BalanceDto, BalanceQueryDto } from './dto/balance.dto';
import { ApiAccountStatementQuery, HistoryQueryDto, AccountStatementQuery } from './dto/history-query.dto';
import { CashMovementDto } from './dto/movement.dto';
import { ReconciliationDto } from './dto/reconciliation.dto';
import { StatementPageDto, TransactionDto } from './dto/transaction.dto';
import { acceptsCsv, CSV_MEDIA_TYPE, ACCOUNT_STATEMENT_CSV_COLUMNS } from './account-statement-csv';
import { TransactionsService } from './transactions.service';
import { TransferService } from './transfer.service';
import { IDEMPOTENCY_HEADER } from './transfers.controller';

const CSV_EXAMPLE =
  `${ACCOUNT_STATEMENT_CSV_COLUMNS.join(',')}\r\n` +
  '5b1f0c1e-2a4d-4e8f-9c1b-0d6e7f8a9b10,TRANSFER,COMPLETED,DEBIT,25.0000,74.5000,USD,' +
  '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f,3f2e1d0c-9b8a-4776-8554-433221100fed,,0.0000,,' +
  '"Dinner, ""La Bodega""",,,"{""orderId"":""A-1042""}",,2025-06-30T18:04:05.123Z,2025-06-30T18:04:05.123Z\r\n';

@ApiTags('wallets')
@ApiBearerAuth('bearer')
@ApiExtraModels(StatementPageDto)
@ApiProblems(401, 429, 503)
@Controller()
export class WalletMovementsController {
  constructor(
    private readonly transfers: TransferService,
    private readonly transactions: TransactionsService,
  ) {}

  @Get('wallets/me/transactions')
  @ApiOperation({
    operationId: 'listMyTransactions',
    summary: 'Your statement, newest first, with direction and running balance',
    description:
      'JSON: one page (`limit`, `cursor`). With `Accept: text/csv`: the whole filtered range as CSV ' +
      '(`limit` and `cursor` do not apply), streamed: a header row, then one CRLF-terminated row per item, ' +
      'RFC 4180 quoting, money with 4 decimals as in JSON, `metadata` as a JSON string, nulls as empty ' +
      "fields; a text field starting with = + - @ tab or CR gets a leading ' (formula injection).",
  })
  @ApiAccountStatementQuery()
  @ApiHeader({
    name: 'Accept',
    required: false,
    description: '`text/csv` for the CSV form; anything else (or none) gets JSON',
    // An enum, not an example: Swagger UI fills an example into "Try it out", which then asked for CSV.
    enum: ['application/json', 'text/csv'],
  })
  @ApiOkResponse({
    description: 'A page of the statement (JSON), or the whole filtered statement (CSV)',
    content: {
      'application/json': { schema: { $ref: getSchemaPath(StatementPageDto) } },
      [CSV_MEDIA_TYPE]: { schema: { type: 'string' }, example: CSV_EXAMPLE },
    },
  })
  @ApiProblems(
    [400, 'VALIDATION_FAILED: a malformed filter, limit or cursor'],
    [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'],
    [404, 'WALLET_NOT_FOUND'],
    [429, 'RATE_LIMITED: (CSV) too many exports at once for this user or this instance, see Retry-After'],
  )
  async accountStatement(
    @CurrentUser() user: AuthUser,
    @AccountStatementQuery() query: HistoryQueryDto,
    @Headers('accept') accept: string | undefined,
    @Req() req: FastifyRequest,
  ): Promise<StatementPageDto | StreamableFile> {
    if (!acceptsCsv(accept)) return this.transactions.accountStatement(user, query);
    return new StreamableFile(await this.transactions.accountStatementCsv(user, query, req.raw.socket), {
      type: `${CSV_MEDIA_TYPE}; charset=utf-8`,
      disposition: 'attachment; filename="statement.csv"',
    });
  }

  @Get('wallets/me/balance')
  @ApiOperation({
    operationId: 'getMyBalance',
    summary: 'Your settled balance at an instant (default: now)',
    description:
      'The balance right after the last ledger entry at or before `at`; "0.0000" before the first.',
  })
  @ApiOkResponse({ type: BalanceDto, description: 'The settled balance at `at`' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED: `at` is not an instant'],
    [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'],
    [404, 'WALLET_NOT_FOUND'],
  )
  balance(@CurrentUser() user: AuthUser, @Query() query: BalanceQueryDto): Promise<BalanceDto> {
    return this.transactions.balanceAt({ userId: user.id }, query, user.id);
  }

  @Get('admin/wallets/:id/balance')
  @Roles('ADMIN')
  @ApiTags('admin')
  @ApiOperation({
    operationId: 'getWalletBalance',
    summary: "Admin: a wallet's settled balance at an instant (default: now)",
    description:
      'The balance right after the last ledger entry at or before `at`; "0.0000" before the first.',
  })
  @ApiOkResponse({ type: BalanceDto, description: 'The settled balance at `at`' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED: the id is not a UUID or `at` is not an instant'],
    [403, 'FORBIDDEN: admins only; ACCOUNT_INACTIVE: your account is not active'],
    [404, 'WALLET_NOT_FOUND'],
  )
  walletBalance(
    @CurrentUser() admin: AuthUser,
    @Param('id', UUID_PARAM) walletId: string,
    @Query() query: BalanceQueryDto,
  ): Promise<BalanceDto> {
    return this.transactions.balanceAt({ walletId }, query, admin.id);
  }

  @StatusCheckedByHandler()
  @Post('wallets/me/withdrawals')
  @ApiOperation({ operationId: 'createWithdrawal', summary: 'Withdraw from your wallet' })
  @IDEMPOTENCY_HEADER
  @ApiCreatedResponse({ type: TransactionDto, description: 'The WITHDRAWAL, COMPLETED' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED, MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID'],
    [404, 'WALLET_NOT_FOUND'],
    [409, 'IDEMPOTENCY_IN_PROGRESS, CONCURRENCY_CONFLICT (see Retry-After)'],
    [422, 'CURRENCY_MISMATCH, INSUFFICIENT_FUNDS, ACCOUNT_INACTIVE, IDEMPOTENCY_KEY_REUSED'],
  )
  async withdraw(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyHeader,
    @Body() dto: CashMovementDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    return answer(
      reply,
      await this.transfers.withdraw(user, idem, { ...dto, amount: Money.parse(dto.amount) }),
      idem.requestId,
    );
  }

  @Post('admin/wallets/:id/deposits')
  @Roles('ADMIN')
  @ApiTags('admin')
  @ApiOperation({
    operationId: 'createDeposit',
    summary: 'Admin: credit a wallet (money entering the system)',
  })
  @IDEMPOTENCY_HEADER
  @ApiCreatedResponse({ type: TransactionDto, description: 'The DEPOSIT, COMPLETED' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED, MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID'],
    [403, 'FORBIDDEN: admins only; ACCOUNT_INACTIVE: your account is not active'],
    [404, 'WALLET_NOT_FOUND'],
    [409, 'IDEMPOTENCY_IN_PROGRESS, CONCURRENCY_CONFLICT (see Retry-After)'],
    [422, 'CURRENCY_MISMATCH, ACCOUNT_INACTIVE, BALANCE_LIMIT_EXCEEDED, IDEMPOTENCY_KEY_REUSED'],
  )
  async deposit(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyHeader,
    @Param('id', UUID_PARAM) walletId: string,
    @Body() dto: CashMovementDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    return answer(
      reply,
      await this.transfers.deposit(user, idem, walletId, { ...dto, amount: Money.parse(dto.amount) }),
      idem.requestId,
    );
  }

  @Get('admin/reconciliation')
  @Roles('ADMIN')
  @ApiTags('admin')
  @ApiOperation({
    operationId: 'getReconciliation',
    summary: 'Admin: check that money is conserved and every balance equals its ledger',
  })
  @ApiOkResponse({ type: ReconciliationDto, description: 'The result of the check' })
  @ApiProblems([403, 'FORBIDDEN: admins only; ACCOUNT_INACTIVE: your account is not active'])
  reconciliation(): Promise<ReconciliationDto> {
    return this.transactions.reconciliation();
  }
}
