import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type AuthUser, CurrentUser } from '../common/auth/auth-user';
import { StatusCheckedByHandler } from '../common/auth/status-checked-by-handler.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { answer, Idempotency, type IdempotencyHeader } from './idempotency';
import { UUID_PARAM } from '../common/http/params';
import { Money } from '../common/money/money';
import { BatchResultDto, CreateBatchDto } from './dto/batch.dto';
import { CaptureDto, CreateTransferDto, RefundDto } from './dto/movement.dto';
import { TransactionDto } from './dto/transaction.dto';
import { TransferBody } from './dto/transfer-fast-path';
import { TransactionsService } from './transactions.service';
import { TransferService } from './transfer.service';

export const IDEMPOTENCY_HEADER = ApiHeader({
  name: 'Idempotency-Key',
  required: true,
  description: '1 to 255 printable ASCII characters, unique per request you mean; a retry reuses it',
  example: '3f1e1b0c-6c1e-4d7b-9f2a-1c0d5e6f7a8b',
});

@ApiTags('transfers')
@ApiBearerAuth('bearer')
@ApiProblems(401, 429, 503)
@Controller('transfers')
export class TransfersController {
  constructor(
    private readonly transfers: TransferService,
    private readonly transactions: TransactionsService,
  ) {}

  @StatusCheckedByHandler()
  @Post()
  @ApiOperation({
    operationId: 'createTransfer',
    summary: 'Send money from your wallet (or, with hold: true, authorize it for later capture)',
  })
  @IDEMPOTENCY_HEADER
  @ApiCreatedResponse({
    type: TransactionDto,
    description: 'The transfer: COMPLETED, or PENDING when it is a hold',
  })
  @ApiProblems(
    [400, 'VALIDATION_FAILED, MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID'],
    [404, 'WALLET_NOT_FOUND'],
    [409, 'IDEMPOTENCY_IN_PROGRESS, CONCURRENCY_CONFLICT (see Retry-After)'],
    [
      422,
      'SAME_WALLET, CURRENCY_MISMATCH, INSUFFICIENT_FUNDS, ACCOUNT_INACTIVE, BALANCE_LIMIT_EXCEEDED, IDEMPOTENCY_KEY_REUSED',
    ],
  )
  @ApiBody({ type: CreateTransferDto })
  async transfer(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyHeader,
    @TransferBody() dto: CreateTransferDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    const input = { ...dto, amount: Money.parse(dto.amount) };
    return answer(reply, await this.transfers.transfer(user, idem, input), idem.requestId);
  }

  @StatusCheckedByHandler()
  @Post('batch')
  @ApiOperation({
    operationId: 'createTransferBatch',
    summary: 'Send up to 100 transfers from your wallet in one request, applied in order; atomic or not',
  })
  @IDEMPOTENCY_HEADER
  @ApiCreatedResponse({ type: BatchResultDto, description: 'atomic: every item applied' })
  @ApiOkResponse({ type: BatchResultDto, description: 'not atomic: each item with its own status' })
  @ApiProblems(
    [
      400,
      'VALIDATION_FAILED: any malformed item, fields named by path (transfers[3].amount); nothing applied. MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID',
    ],
    [409, 'IDEMPOTENCY_IN_PROGRESS, CONCURRENCY_CONFLICT (see Retry-After)'],
    [
      422,
      'BATCH_REFUSED (atomic: errors lists {index, code, detail}; nothing moved), IDEMPOTENCY_KEY_REUSED',
    ],
  )
  async batch(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyHeader,
    @Body() dto: CreateBatchDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<BatchResultDto> {
    const items = dto.transfers.map((t) => ({ ...t, amount: Money.parse(t.amount) }));
    return answer(reply, await this.transfers.batch(user, idem, dto.atomic === true, items), idem.requestId);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getTransfer', summary: 'A transfer you are a party to (admins: any)' })
  @ApiOkResponse({ type: TransactionDto, description: 'The transfer' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED: the id is not a UUID'],
    [403, 'ACCOUNT_INACTIVE: the account was suspended or closed'],
    [404, 'TRANSACTION_NOT_FOUND: no such transfer, or not yours'],
  )
  get(@CurrentUser() user: AuthUser, @Param('id', UUID_PARAM) id: string): Promise<TransactionDto> {
    return this.transactions.getForCaller(user, id);
  }

  @Post(':id/capture')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'captureHold',
    summary: 'Capture a hold, fully or partly (the receiver or an admin)',
  })
  @IDEMPOTENCY_HEADER
  // Every field is optional, and so is the body itself (none is read as {}).
  @ApiBody({ type: CaptureDto, required: false })
  @ApiOkResponse({
    type: TransactionDto,
    description: 'The hold, COMPLETED: `amount` is what moved, `heldAmount` what was held',
  })
  @ApiProblems(
    [400, 'VALIDATION_FAILED, MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID'],
    [403, 'FORBIDDEN: only the receiver or an admin; ACCOUNT_INACTIVE: your account is not active'],
    [404, 'TRANSACTION_NOT_FOUND'],
    [409, 'TRANSFER_NOT_PENDING, IDEMPOTENCY_IN_PROGRESS, CONCURRENCY_CONFLICT (see Retry-After)'],
    [422, 'AMOUNT_EXCEEDS_HOLD, BALANCE_LIMIT_EXCEEDED, ACCOUNT_INACTIVE, IDEMPOTENCY_KEY_REUSED'],
  )
  async capture(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyHeader,
    @Param('id', UUID_PARAM) id: string,
    @Body() dto: CaptureDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    const amount = dto.amount === undefined ? undefined : Money.parse(dto.amount);
    return answer(reply, await this.transfers.capture(user, idem, id, amount), idem.requestId);
  }

  @Post(':id/void')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'voidHold',
    summary: 'Void a hold: release all of it (the receiver or an admin)',
  })
  @IDEMPOTENCY_HEADER
  @ApiOkResponse({ type: TransactionDto, description: 'The hold, FAILED with failureReason VOIDED' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED, MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID'],
    [403, 'FORBIDDEN: only the receiver or an admin; ACCOUNT_INACTIVE: your account is not active'],
    [404, 'TRANSACTION_NOT_FOUND'],
    [409, 'TRANSFER_NOT_PENDING, IDEMPOTENCY_IN_PROGRESS, CONCURRENCY_CONFLICT (see Retry-After)'],
    [422, 'IDEMPOTENCY_KEY_REUSED'],
  )
  async void(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyHeader,
    @Param('id', UUID_PARAM) id: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    return answer(reply, await this.transfers.void(user, idem, id), idem.requestId);
  }

  @Post(':id/refunds')
  @ApiOperation({
    operationId: 'refundTransfer',
    summary: 'Refund a completed transfer, fully or partly (the receiver or an admin)',
  })
  @IDEMPOTENCY_HEADER
  // Every field is optional, and so is the body itself (none is read as {}).
  @ApiBody({ type: RefundDto, required: false })
  @ApiCreatedResponse({ type: TransactionDto, description: 'The REFUND transaction' })
  @ApiProblems(
    [400, 'VALIDATION_FAILED, MALFORMED_JSON, IDEMPOTENCY_KEY_MISSING, IDEMPOTENCY_KEY_INVALID'],
    [403, 'FORBIDDEN: only the receiver or an admin; ACCOUNT_INACTIVE: your account is not active'],
    [404, 'TRANSACTION_NOT_FOUND'],
    [409, 'TRANSFER_NOT_REFUNDABLE, IDEMPOTENCY_IN_PROGRESS, CONCURRENCY_CONFLICT (see Retry-After)'],
    [
      422,
      'REFUND_EXCEEDS_AMOUNT, INSUFFICIENT_FUNDS, ACCOUNT_INACTIVE, BALANCE_LIMIT_EXCEEDED, IDEMPOTENCY_KEY_REUSED',
    ],
  )
  async refund(
    @CurrentUser() user: AuthUser,
    @Idempotency() idem: IdempotencyHeader,
    @Param('id', UUID_PARAM) id: string,
    @Body() dto: RefundDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TransactionDto> {
    const input = { ...dto, amount: dto.amount === undefined ? undefined : Money.parse(dto.amount) };
    return answer(reply, await this.transfers.refund(user, idem, id, input), idem.requestId);
  }
}
