import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, IsString, IsUUID, Max, MaxLength, Min } from 'class-validator';
import { IsAmount, IsCurrency } from '../../common/money/validators';

export class CashMovementDto {
  @IsAmount() amount!: string;
  @IsCurrency() currency!: string;

  @ApiPropertyOptional({ maxLength: 255, example: 'bank-ref-2024-0001', description: 'Your reference' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  reference?: string;
}

export class CreateTransferDto extends PickType(CashMovementDto, ['amount', 'currency'] as const) {
  @ApiProperty({ format: 'uuid', description: 'The receiving wallet' })
  @IsUUID('all', { message: 'must be a UUID' })
  toWalletId!: string;

  @ApiPropertyOptional({ maxLength: 500, example: 'Dinner, split' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ description: 'Authorize only: reserve the amount now, capture or void it later' })
  @IsOptional()
  @IsBoolean()
  hold?: boolean;

  @ApiPropertyOptional({
    minimum: 60,
    maximum: 2592000,
    default: 604800,
    description: 'Holds: seconds until an uncaptured hold expires',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(2592000)
  holdExpiresInSeconds?: number;
}

export class CaptureDto {
  @IsOptional()
  @IsAmount('Amount to capture, at most what is held; default: all of it')
  amount?: string;
}
