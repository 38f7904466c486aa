import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, ValidateNested } from 'class-validator';
import { Optional } from '../../common/http/field-rules';
import { ProblemDetailsDto } from '../../common/http/problem-details.dto';
import { CreateTransferDto } from './movement.dto';
import { TransactionDto } from './transaction.dto';

/** The most transfers one batch request may carry (contract v1.1). */
export const BATCH_MAX_ITEMS = 100;

export class BatchTransferItemDto extends PickType(CreateTransferDto, [
  'toWalletId',
  'amount',
  'currency',
  'description',
  'metadata',
] as const) {}

export class CreateBatchDto {
  // No `default` in the schema: generated clients would then make the field required.
  @ApiPropertyOptional({
    example: true,
    description:
      'true: all items apply or none (422 BATCH_REFUSED); false (the default, when absent): each item stands alone',
  })
  @Optional()
  @IsBoolean()
  atomic?: boolean;

  @ApiProperty({ type: [BatchTransferItemDto], minItems: 1, maxItems: BATCH_MAX_ITEMS })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(BATCH_MAX_ITEMS)
  @ValidateNested({ each: true })
  @Type(() => BatchTransferItemDto)
  transfers!: BatchTransferItemDto[];
}

export class BatchItemResultDto {
  @ApiProperty({ type: 'integer', example: 0, description: 'Position of the item in the request' })
  index!: number;
  @ApiProperty({
    type: 'integer',
    example: 201,
    description: 'The status its own POST /transfers would have had',
  })
  status!: number;
  @ApiPropertyOptional({ type: TransactionDto, description: 'When applied (201)' })
  transaction?: TransactionDto;
  @ApiPropertyOptional({
    type: () => ProblemDetailsDto,
    description: 'When refused: the problem body its own POST /transfers would have had',
  })
  problem?: Record<string, unknown>;
}

export class BatchResultDto {
  @ApiProperty({ type: [BatchItemResultDto] }) items!: BatchItemResultDto[];
}
