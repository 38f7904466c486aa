import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldErrorDto {
  @ApiProperty({ example: 'amount' }) field!: string;
  @ApiProperty({ example: 'must be a decimal string with up to 4 decimals' }) message!: string;
}

/** RFC 9457 problem details, the body of every error response (application/problem+json). */
export class ProblemDetailsDto {
  @ApiProperty({ example: 'https://hfts.dev/problems/insufficient-funds' }) type!: string;
  @ApiProperty({ example: 'Not enough available funds' }) title!: string;
  @ApiProperty({ example: 422 }) status!: number;
  @ApiProperty({ example: 'The wallet has 5.0000 available, 10.0000 is needed' }) detail!: string;
  @ApiProperty({ example: 'INSUFFICIENT_FUNDS', description: 'Stable machine-readable code' }) code!: string;
  @ApiProperty({ example: '6f1c2a4e-3c1b-4f7e-9a51-0e3b0f6a9d12' }) requestId!: string;
  @ApiPropertyOptional({ type: [FieldErrorDto] }) errors?: FieldErrorDto[];
  @ApiPropertyOptional({ description: 'Id of the FAILED transaction recorded for this refusal' })
  transactionId?: string;
}
