import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { type Money, MONEY_PATTERN } from '../../../common/money/money';

/** An amount that may be negative (a monitor's value where an overdraft allows it). */
const SIGNED_MONEY_PATTERN = new RegExp(`^-?${MONEY_PATTERN.source.slice(1)}`);

export const MONITOR_FIELDS = ['balance', 'availableBalance'] as const;
export const MONITOR_OPERATORS = ['lt', 'lte', 'gt', 'gte'] as const;

/** A monitor as the engine and the repository hold it. */
export interface MonitorLike {
  id: string;
  walletId: string;
  field: (typeof MONITOR_FIELDS)[number];
  operator: (typeof MONITOR_OPERATORS)[number];
  value: Money;
  description: string | null;
  met: boolean;
  createdAt: Date;
  lastTriggeredAt: Date | null;
}

export class CreateMonitorDto {
  @ApiProperty({ enum: MONITOR_FIELDS, example: 'balance' })
  @IsIn(MONITOR_FIELDS)
  field!: MonitorLike['field'];

  @ApiProperty({ enum: MONITOR_OPERATORS, example: 'lt', description: 'field operator value' })
  @IsIn(MONITOR_OPERATORS)
  operator!: MonitorLike['operator'];

  @ApiProperty({
    type: String,
    example: '100.0000',
    pattern: SIGNED_MONEY_PATTERN.source,
    description: 'Decimal string, up to 14 integer digits and 4 decimals; may be negative (overdraft)',
  })
  @IsString()
  @Matches(SIGNED_MONEY_PATTERN, {
    message: 'must be a decimal string with up to 14 integer digits and 4 decimals',
  })
  value!: string;

  @ApiPropertyOptional({ example: 'Low balance', maxLength: 255 })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  description?: string;
}

export class MonitorDto {
  @ApiProperty({ format: 'uuid', example: '5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d' }) id!: string;
  @ApiProperty({ format: 'uuid', example: '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f' }) walletId!: string;
  @ApiProperty({ enum: MONITOR_FIELDS, example: 'balance' }) field!: MonitorLike['field'];
  @ApiProperty({ enum: MONITOR_OPERATORS, example: 'lt' }) operator!: MonitorLike['operator'];
  @ApiProperty({ example: '100.0000' }) value!: string;
  @ApiProperty({ type: String, nullable: true, example: 'Low balance' }) description!: string | null;
  @ApiProperty({ example: false, description: 'Whether the wallet meets `field operator value` now' })
  met!: boolean;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:30.000Z' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  lastTriggeredAt!: string | null;

  static from(m: MonitorLike): MonitorDto {
    return {
      id: m.id,
      walletId: m.walletId,
      field: m.field,
      operator: m.operator,
      value: m.value.toFixed4(),
      description: m.description,
      met: m.met,
      createdAt: m.createdAt.toISOString(),
      lastTriggeredAt: m.lastTriggeredAt?.toISOString() ?? null,
    };
  }
}

export class MonitorListDto {
  @ApiProperty({ type: [MonitorDto] }) items!: MonitorDto[];
}
