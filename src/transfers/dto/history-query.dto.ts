import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional } from 'class-validator';
import { IsIntBetween, IsText } from '../../common/http/field-rules';
import { IsInstant } from '../../common/http/instant';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;

const INSTANT_DESCRIPTION =
  'A date (YYYY-MM-DD, midnight UTC) or a date-time YYYY-MM-DDThh:mm[:ss[.fraction]] with Z or ±hh:mm (none: UTC)';

// A query field given twice (`?status=A&status=B`) arrives as an array: each rule below refuses it.
export class HistoryQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Transform(toInt)
  @IsIntBetween(1, 100)
  limit?: number;

  @ApiPropertyOptional({ description: 'Opaque: the nextCursor of the previous page' })
  @IsOptional()
  @IsText(200)
  cursor?: string;

  @ApiPropertyOptional({ enum: ['PENDING', 'COMPLETED', 'FAILED'] })
  @IsOptional()
  @IsIn(['PENDING', 'COMPLETED', 'FAILED'])
  status?: 'PENDING' | 'COMPLETED' | 'FAILED';

  @ApiPropertyOptional({ enum: ['TRANSFER', 'DEPOSIT', 'WITHDRAWAL'] })
  @IsOptional()
  @IsIn(['TRANSFER', 'DEPOSIT', 'WITHDRAWAL'])
  type?: 'TRANSFER' | 'DEPOSIT' | 'WITHDRAWAL';

  @ApiPropertyOptional({ enum: ['DEBIT', 'CREDIT'] })
  @IsOptional()
  @IsIn(['DEBIT', 'CREDIT'])
  direction?: 'DEBIT' | 'CREDIT';

  @ApiPropertyOptional({ format: 'date-time', description: `Created at or after. ${INSTANT_DESCRIPTION}` })
  @IsOptional()
  @IsInstant()
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: `Created before. ${INSTANT_DESCRIPTION}` })
  @IsOptional()
  @IsInstant()
  to?: string;
}
