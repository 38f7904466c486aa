import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsInstant } from '../../common/http/instant';

export class BalanceQueryDto {
  @ApiPropertyOptional({
    format: 'date-time',
    example: '2025-06-30T23:59:59.999Z',
    description:
      'The instant (default: now). A date (YYYY-MM-DD, midnight UTC) or a date-time ' +
      'YYYY-MM-DDThh:mm[:ss[.fraction]] with Z or ±hh:mm (none: UTC)',
  })
  @IsOptional()
  @IsInstant()
  at?: string;
}

export class BalanceDto {
  @ApiProperty({ format: 'uuid' }) walletId!: string;
  @ApiProperty({ example: 'USD' }) currency!: string;
  @ApiProperty({
    example: '125.5000',
    description:
      'Settled balance right after the last ledger entry at or before `at` ("0.0000" before the first)',
  })
  balance!: string;
  @ApiProperty({
    format: 'date-time',
    example: '2025-06-30T23:59:59.999Z',
    description: 'The instant asked for',
  })
  at!: string;
}
