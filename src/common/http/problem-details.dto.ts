import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { PUBLIC_ERROR_CODES } from './api-problems.decorator';

/** A field problem of a VALIDATION_FAILED response. */
export class FieldErrorDto {
  @ApiProperty({ example: 'amount', description: 'The field, by path (`transfers[3].amount`)' })
  field!: string;
  @ApiProperty({ example: 'must be a decimal string with up to 14 integer digits and 4 decimals' })
  message!: string;
}

/** A refused item of an atomic batch (BATCH_REFUSED). */
export class BatchItemErrorDto {
  @ApiProperty({ type: 'integer', example: 2, description: 'Position of the item in the request' })
  index!: number;
  @ApiProperty({ enum: PUBLIC_ERROR_CODES, enumName: 'ErrorCode', example: 'INSUFFICIENT_FUNDS' })
  code!: string;
  @ApiProperty({ example: 'The wallet has 5.0000 available, 10.0000 is needed' }) detail!: string;
}

/** RFC 9457 problem details, the body of every error response (application/problem+json). */
@ApiExtraModels(FieldErrorDto, BatchItemErrorDto)
export class ProblemDetailsDto {
  @ApiProperty({ example: 'https://hfts.dev/problems/insufficient-funds', description: 'Names the code' })
  type!: string;
  @ApiProperty({ example: 'Not enough available funds' }) title!: string;
  @ApiProperty({ type: 'integer', example: 422, description: 'The HTTP status' }) status!: number;
  @ApiProperty({ example: 'The wallet has 5.0000 available, 10.0000 is needed' }) detail!: string;
  @ApiProperty({
    enum: PUBLIC_ERROR_CODES,
    enumName: 'ErrorCode',
    example: 'INSUFFICIENT_FUNDS',
    description: 'Stable machine-readable code: new codes may be added, none is ever renamed',
  })
  code!: string;
  @ApiProperty({
    example: '6f1c2a4e-3c1b-4f7e-9a51-0e3b0f6a9d12',
    description: 'The X-Request-Id of the response',
  })
  requestId!: string;
  @ApiPropertyOptional({
    type: 'array',
    items: { oneOf: [{ $ref: getSchemaPath(FieldErrorDto) }, { $ref: getSchemaPath(BatchItemErrorDto) }] },
    description:
      'VALIDATION_FAILED: the field problems ({field, message}); BATCH_REFUSED: the refused items ({index, code, detail})',
  })
  errors?: Array<FieldErrorDto | BatchItemErrorDto>;
  @ApiPropertyOptional({
    format: 'uuid',
    example: '0c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f',
    description:
      'Id of the FAILED transaction recorded for this refusal (INSUFFICIENT_FUNDS, ACCOUNT_INACTIVE)',
  })
  transactionId?: string;
}
