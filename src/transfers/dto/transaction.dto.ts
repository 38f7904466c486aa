import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { TxRecord } from '../transaction.record';

export class TransactionDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ['TRANSFER', 'DEPOSIT', 'WITHDRAWAL', 'REFUND'] }) type!: string;
  @ApiProperty({ enum: ['PENDING', 'COMPLETED', 'FAILED'] }) status!: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'Null for a deposit' })
  sourceWalletId!: string | null;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'Null for a withdrawal' })
  destinationWalletId!: string | null;
  @ApiProperty({ example: '25.0000', description: 'What moved (for a captured hold: the captured amount)' })
  amount!: string;
  @ApiPropertyOptional({
    example: '40.0000',
    nullable: true,
    type: String,
    description: 'Holds: the amount reserved',
  })
  heldAmount!: string | null;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ nullable: true, type: String }) description!: string | null;
  @ApiProperty({ nullable: true, type: String }) reference!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    example: null,
    description: 'INSUFFICIENT_FUNDS, ACCOUNT_INACTIVE, VOIDED, EXPIRED',
  })
  failureReason!: string | null;
  @ApiPropertyOptional({
    format: 'date-time',
    nullable: true,
    type: String,
    description: 'Holds: when an uncaptured hold expires',
  })
  holdExpiresAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) completedAt!: string | null;
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
    description: 'A REFUND: the refunded transfer',
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
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `cursor` for the next (older) page' })
  nextCursor!: string | null;
}
