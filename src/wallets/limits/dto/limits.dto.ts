import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { MONEY_PATTERN } from '../../../common/money/money';
import { LIMIT_WINDOWS, type LimitWindow, windowOf } from '../limit-windows';
import type { LimitsView } from '../limits.repository';

const MONEY_MESSAGE = 'must be a decimal string with up to 14 integer digits and 4 decimals';

export class LimitInputDto {
  @ApiProperty({ enum: LIMIT_WINDOWS, example: 'DAILY' })
  @IsIn(LIMIT_WINDOWS)
  window!: LimitWindow;

  @ApiPropertyOptional({
    example: '500.0000',
    pattern: MONEY_PATTERN.source,
    description: '>= 0; 0 blocks all',
  })
  @IsOptional()
  @IsString()
  @Matches(MONEY_PATTERN, { message: MONEY_MESSAGE })
  maxAmount?: string;

  @ApiPropertyOptional({ type: 'integer', example: 20, minimum: 0, description: 'Not for PER_TRANSACTION' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2147483647)
  maxCount?: number;
}

export class SetLimitsDto {
  @ApiPropertyOptional({
    example: '100.0000',
    pattern: MONEY_PATTERN.source,
    description: 'How far below zero the balance may go; left out, it keeps its value',
  })
  @IsOptional()
  @IsString()
  @Matches(MONEY_PATTERN, { message: MONEY_MESSAGE })
  overdraftLimit?: string;

  @ApiProperty({
    type: [LimitInputDto],
    description: 'The whole set (replaces the previous one; empty removes every limit), one entry per window',
    example: [
      { window: 'PER_TRANSACTION', maxAmount: '200.0000' },
      { window: 'DAILY', maxAmount: '500.0000', maxCount: 20 },
    ],
  })
  @IsArray()
  @ArrayMaxSize(LIMIT_WINDOWS.length)
  @ValidateNested({ each: true })
  @Type(() => LimitInputDto)
  limits!: LimitInputDto[];
}

export class LimitDto {
  @ApiProperty({ enum: LIMIT_WINDOWS, example: 'DAILY' }) window!: LimitWindow;
  @ApiProperty({ type: String, nullable: true, example: '500.0000' }) maxAmount!: string | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 20 }) maxCount!: number | null;
  @ApiProperty({ type: String, nullable: true, example: '120.0000', description: 'null for PER_TRANSACTION' })
  usedAmount!: string | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 3 }) usedCount!: number | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: '2025-11-24T00:00:00.000Z' })
  windowStart!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: '2025-11-25T00:00:00.000Z' })
  resetsAt!: string | null;
}

export class LimitsDto {
  @ApiProperty({ format: 'uuid', example: '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f' }) walletId!: string;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({ example: '0.0000' }) overdraftLimit!: string;
  @ApiProperty({ type: [LimitDto] }) limits!: LimitDto[];
}

/** The API form of a wallet's limits, in the contract's window order. */
export function limitsDtoOf(v: LimitsView, now: Date): LimitsDto {
  const limits = [...v.limits]
    .sort((a, b) => LIMIT_WINDOWS.indexOf(a.window) - LIMIT_WINDOWS.indexOf(b.window))
    .map((l): LimitDto => {
      const window = l.window === 'PER_TRANSACTION' ? null : windowOf(l.window, now);
      return {
        window: l.window,
        maxAmount: l.maxAmount?.toFixed4() ?? null,
        maxCount: l.maxCount,
        usedAmount: l.used ? l.used.amount.toFixed4() : null,
        usedCount: l.used ? l.used.count : null,
        windowStart: window?.start.toISOString() ?? null,
        resetsAt: window?.end.toISOString() ?? null,
      };
    });
  return { walletId: v.walletId, currency: v.currency, overdraftLimit: v.overdraftLimit.toFixed4(), limits };
}
