import { Body, Controller, Get, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type AuthUser, CurrentUser } from '../common/auth/auth-user';
import { StatusCheckedByHandler } from '../common/auth/status-checked-by-handler.decorator';
import { Roles } from '../common/auth/roles.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { Idempotency, type IdempotencyContext } from './idempotency/idempotency-key.decorator';
import { UUID_PARAM } from '../common/http/params';
import { answer } from './idempotency/answer';
import { Money } from '../common/money/money';
import { HistoryQueryDto } from './dto/history-query.dto';
import { CashMovementDto } from './dto/movement.dto';
import { ReconciliationDto } from './dto/reconciliation.dto';
import { StatementPageDto, TransactionDto } from './dto/transaction.dto';
import { TransactionsService } from './transactions.service';
import { TransferService } from './transfer.service';
import { IDEMPOTENCY_HEADER } from './transfers.controller';

@ApiTags('wallets')
@ApiBearerAuth('bearer')
@ApiProblems(401, 429, 503)
@Controller()
export class WalletMovementsController {
  constructor(
    private readonly engine: TransferService,
    private readonly transactions: TransactionsService,
  ) {}

  @Get('wallets/me/transactions')
  @ApiOperation({ summary: 'Your statement, newest first, with direction and running balance' })
  @ApiOkResponse({ type: StatementPageDto })
  @ApiProblems(400, [404, 'WALLET_NOT_FOUND'])
  statement(@CurrentUser() user: AuthUser, @Query() query: HistoryQueryDto): Promise<StatementPageDto> {
    return this.transactions.statement(user, query);
  }

  @StatusCheckedByHandler()
  @Post('wallets/me/withdrawals')
  @ApiOperation({ summary: 'Withdraw from your wallet' })
  @IDEMPOTENCY_HEADER
  @ApiCreatedResponse({ type: TransactionDto })
  @ApiProblems(400, [404, 'WALLET_NOT_FOUND'], 409, [
    422,
    'CURRENCY_MISMATCH, INSUFFICIENT_FUNDS, ACCOUNT_INACTIVE, IDEMPOTENCY_KEY_REUSED',
  ])
  async withdraw(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyContext,
    @Body() dto: CashMovementDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    return answer(
      reply,
      await this.engine.withdraw(user, idem, { ...dto, amount: Money.parse(dto.amount) }),
      idem.requestId,
    );
  }

  @Post('admin/wallets/:id/deposits')
  @Roles('ADMIN')
  @ApiTags('admin')
  @ApiOperation({ summary: 'Admin: credit a wallet (money entering the system)' })
  @IDEMPOTENCY_HEADER
  @ApiCreatedResponse({ type: TransactionDto })
  @ApiProblems(400, [403, 'FORBIDDEN: admins only'], [404, 'WALLET_NOT_FOUND'], 409, [
    422,
    'CURRENCY_MISMATCH, ACCOUNT_INACTIVE, BALANCE_LIMIT_EXCEEDED, IDEMPOTENCY_KEY_REUSED',
  ])
  async deposit(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyContext,
    @Param('id', UUID_PARAM) walletId: string,
    @Body() dto: CashMovementDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    return answer(
      reply,
      await this.engine.deposit(user, idem, walletId, { ...dto, amount: Money.parse(dto.amount) }),
      idem.requestId,
    );
  }

  @Get('admin/reconciliation')
  @Roles('ADMIN')
  @ApiTags('admin')
  @ApiOperation({ summary: 'Admin: check that money is conserved and every balance equals its ledger' })
  @ApiOkResponse({ type: ReconciliationDto })
  @ApiProblems([403, 'FORBIDDEN: admins only'])
  reconciliation(): Promise<ReconciliationDto> {
    return this.transactions.reconciliation();
  }
}
