import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { IsBoolean, IsInt, Max } from 'class-validator';
import { HOLD_SECONDS } from '../transaction.record';
import { IsId, IsMetadata, IsText, Optional } from '../../common/http/field-rules';
import { IsAmount, IsCurrency } from '../../common/money/validators';

export class CashMovementDto {
  @IsAmount() amount!: string;
  @IsCurrency() currency!: string;

  @ApiPropertyOptional({ maxLength: 255, example: 'bank-ref-2024-0001', description: 'Your reference' })
  @Optional()
  @IsText(255)
  reference?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', minLength: 1, maxLength: 500 },
    maxProperties: 20,
    example: { orderId: 'A-1042' },
    description: 'Your own keys (at most 20, each 1..40 of A-Z a-z 0-9 _ . -), stored and returned',
  })
  @Optional()
  @IsMetadata()
  metadata?: Record<string, string>;
}

export class CreateTransferDto extends PickType(CashMovementDto, [
  'amount',
  'currency',
  'metadata',
] as const) {
  @ApiProperty({
    format: 'uuid',
    example: '3f2e1d0c-9b8a-4776-8554-433221100fed',
    description: 'The receiving wallet (any case)',
  })
  @IsId()
  toWalletId!: string;

  @ApiPropertyOptional({ maxLength: 500, example: 'Dinner, split' })
  @Optional()
  @IsText(500)
  description?: string;

  @ApiPropertyOptional({
    example: false,
    description: 'Authorize only: reserve the amount now, capture or void it later (default: false)',
  })
  @Optional()
  @IsBoolean()
  hold?: boolean;

  // The shortest hold is a setting (HOLD_MIN_EXPIRY_SECONDS, the contract's 60 by default), checked in one
  // place, TransferService; the type and the longest hold are checked here.
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 60,
    maximum: HOLD_SECONDS.max,
    example: 86400,
    description: `Holds: seconds until an uncaptured hold expires (at least HOLD_MIN_EXPIRY_SECONDS, 60 unless the operator changed it; default ${HOLD_SECONDS.default})`,
  })
  @Optional()
  @Max(HOLD_SECONDS.max)
  @IsInt() // registered first: a non-integer is told so, not that it is too large
  holdExpiresInSeconds?: number;
}

export class RefundDto {
  @Optional()
  @IsAmount('Amount to refund; default: all that is not yet refunded', false)
  amount?: string;

  @ApiPropertyOptional({ maxLength: 500, example: 'Returned item' })
  @Optional()
  @IsText(500)
  reason?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', minLength: 1, maxLength: 500 },
    maxProperties: 20,
    description: 'Your own keys, stored on the REFUND transaction',
  })
  @Optional()
  @IsMetadata()
  metadata?: Record<string, string>;
}

export class CaptureDto {
  @Optional()
  @IsAmount('Amount to capture, at most what is held; default: all of it', false)
  amount?: string;
}
