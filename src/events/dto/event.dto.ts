import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, Matches } from 'class-validator';
import { IsIntBetween } from '../../common/http/field-rules';
import { EVENT_TYPES, type EventType } from '../outbox';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;

export class EventsQueryDto {
  @ApiPropertyOptional({
    description: 'The nextCursor of the previous page (a sequence number); none: from the first event',
    example: '1042',
    pattern: '^(0|[1-9][0-9]{0,17})$',
  })
  @IsOptional()
  @Matches(/^(0|[1-9][0-9]{0,17})$/, { message: 'after must be a nextCursor: a whole number' })
  after?: string;

  // No `default` in the schema: generated clients would then make the parameter required.
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 500,
    example: 100,
    description: 'Page size (default: 100)',
  })
  @IsOptional()
  @Transform(toInt)
  @IsIntBetween(1, 500)
  limit?: number;
}

/** `data`: the object as it stands after the change. */
export class EventDataDto {
  @ApiPropertyOptional({
    allOf: [{ $ref: '#/components/schemas/TransactionDto' }],
    description: 'For transaction.*, hold.* and refund.completed',
  })
  transaction?: unknown;

  @ApiPropertyOptional({
    allOf: [{ $ref: '#/components/schemas/UserDto' }],
    description: 'For user.status_changed',
  })
  user?: unknown;
}

export class EventDto {
  @ApiProperty({ format: 'uuid', description: 'Unique; receivers drop duplicates by it' }) id!: string;
  @ApiProperty({ enum: EVENT_TYPES, example: 'transaction.completed' }) type!: EventType;
  @ApiProperty({ type: 'integer', example: 1042, description: 'Grows with commit order' }) sequence!: number;
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:15:30.000Z' }) createdAt!: string;
  @ApiProperty({ type: [String], format: 'uuid', description: 'The wallets the change touched' })
  walletIds!: string[];
  @ApiProperty({ type: EventDataDto }) data!: EventDataDto;
}

export class EventPageDto {
  @ApiProperty({ type: [EventDto], description: 'Oldest first' }) items!: EventDto[];
  @ApiProperty({
    type: 'string',
    nullable: true,
    example: '1042',
    description: 'Pass as `after` for the next page; null on the last page',
  })
  nextCursor!: string | null;
}
