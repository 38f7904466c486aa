import { ApiProperty } from '@nestjs/swagger';
import type { TxRecord } from '../transaction.record';

export class TransactionDto {
  @ApiProperty({ format: 'uuid', example: '5b1f0c1e-2a4d-4e8f-9c1b-0d6e7f8a9b10' }) id!: string;
  @ApiProperty({ enum: ['TRANSFER', 'DEPOSIT', 'WITHDRAWAL', 'REFUND'], example: 'TRANSFER' }) type!: string;
  @ApiProperty({ enum: ['PENDING', 'COMPLETED', 'FAILED'], example: 'COMPLETED' }) status!: string;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    example: '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f',
    description: 'Null for a deposit',
  })
  sourceWalletId!: string | null;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    example: '3f2e1d0c-9b8a-4776-8554-433221100fed',
    description: 'Null for a withdrawal',
  })
  destinationWalletId!: string | null;
  @ApiProperty({ example: '25.0000', description: 'What moved (for a captured hold: the captured amount)' })
  amount!: string;
  @ApiProperty({
    example: null,
    nullable: true,
    type: String,
    description: 'Holds: the amount reserved (e.g. "40.0000"); null for anything else',
  })
  heldAmount!: string | null;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ nullable: true, type: String, example: 'Dinner, split' }) description!: string | null;
  @ApiProperty({ nullable: true, type: String, example: null }) reference!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    example: null,
    description: 'INSUFFICIENT_FUNDS, ACCOUNT_INACTIVE, VOIDED, EXPIRED',
  })
  failureReason!: string | null;
  @ApiProperty({
    format: 'date-time',
    nullable: true,
    type: String,
    example: null,
    description: 'Holds: when an uncaptured hold expires; null for anything else',
  })
  holdExpiresAt!: string | null;
  @ApiProperty({ format: 'date-time', example: '2025-06-30T18:04:05.123Z' }) createdAt!: string;
  @ApiProperty({
    format: 'date-time',
    nullable: true,
    type: String,
    example: '2025-06-30T18:04:05.123Z',
    description: 'Null while PENDING',
  })
  completedAt!: string | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { orderId: 'A-1042' },
    description: 'Your own keys, as sent; {} when none',
  })
  metadata!: Record<string, string>;
  @ApiProperty({ example: '0.0000', description: 'Transfers: what refunds have moved back so far' })
  refundedAmount!: string;
  @ApiProperty({
    format: 'uuid',
    nullable: true,
    type: String,
    example: null,
    description: 'A REFUND: the refunded transfer; null for anything else',
  })
  originalTransactionId!: string | null;

  static from(t: TxRecord): TransactionDto {
    return {
      id: t.id,
      type: t.type,
      status: t.status,
      sourceWalletId: t.sourceWalletId,
      destinationWalletId: t.destinationWalletId,
      amount: t.amount.toFixed4(),
      heldAmount: t.heldAmount?.toFixed4() ?? null,
      currency: t.currency,
      description: t.description,
      reference: t.reference,
      failureReason: t.failureReason,
      holdExpiresAt: t.holdExpiresAt?.toISOString() ?? null,
      createdAt: t.createdAt.toISOString(),
      completedAt: t.completedAt?.toISOString() ?? null,
      metadata: t.metadata,
      refundedAmount: t.refundedAmount.toFixed4(),
      originalTransactionId: t.originalTransactionId,
    };
  }
}

export class StatementItemDto extends TransactionDto {
  @ApiProperty({ enum: ['DEBIT', 'CREDIT'], description: 'For your wallet' }) direction!: 'DEBIT' | 'CREDIT';
  @ApiProperty({
    nullable: true,
    type: String,
    example: '74.5000',
    description: 'Your balance right after, when COMPLETED',
  })
  balanceAfter!: string | null;
}

export class StatementPageDto {
  @ApiProperty({ type: [StatementItemDto] }) items!: StatementItemDto[];
  @ApiProperty({
    nullable: true,
    type: String,
    example: 'czoxMDQy',
    description: 'Pass as `cursor` for the next (older) page; null on the last page',
  })
  nextCursor!: string | null;
}
