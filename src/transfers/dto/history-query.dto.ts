import {
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
  type PipeTransform,
} from '@nestjs/common';
import { ApiPropertyOptional, ApiQuery, OmitType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { AppError, type FieldError } from '../../common/errors/error-codes';
import { IsIntBetween, IsText, metadataProblem } from '../../common/http/field-rules';
import { IsInstant } from '../../common/http/instant';
import { createValidationPipe } from '../../common/http/validation';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;

const INSTANT_DESCRIPTION =
  'A date (YYYY-MM-DD, midnight UTC) or a date-time YYYY-MM-DDThh:mm[:ss[.fraction]] with Z or ±hh:mm (none: UTC)';

const STATUSES = ['PENDING', 'COMPLETED', 'FAILED'] as const;
const TYPES = ['TRANSFER', 'DEPOSIT', 'WITHDRAWAL', 'REFUND'] as const;
const DIRECTIONS = ['DEBIT', 'CREDIT'] as const;

// A query field given twice (`?status=A&status=B`) arrives as an array: each rule below refuses it.
export class HistoryQueryDto {
  // No `default` in the schema: generated clients would then make the parameter required.
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 100,
    example: 20,
    description: 'Page size (default: 20)',
  })
  @IsOptional()
  @Transform(toInt)
  @IsIntBetween(1, 100)
  limit?: number;

  @ApiPropertyOptional({ description: 'Opaque: the nextCursor of the previous page' })
  @IsOptional()
  @IsText(200)
  cursor?: string;

  @ApiPropertyOptional({ enum: STATUSES })
  @IsOptional()
  @IsIn(STATUSES)
  status?: (typeof STATUSES)[number];

  @ApiPropertyOptional({ enum: TYPES })
  @IsOptional()
  @IsIn(TYPES)
  type?: (typeof TYPES)[number];

  @ApiPropertyOptional({ enum: DIRECTIONS })
  @IsOptional()
  @IsIn(DIRECTIONS)
  direction?: (typeof DIRECTIONS)[number];

  @ApiPropertyOptional({ format: 'date-time', description: `Created at or after. ${INSTANT_DESCRIPTION}` })
  @IsOptional()
  @IsInstant()
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: `Created before. ${INSTANT_DESCRIPTION}` })
  @IsOptional()
  @IsInstant()
  to?: string;

  /**
   * The `metadata.<key>=<value>` parameters, in the order given, set by AccountStatementQuery after validation.
   * Not a query field: no rule here on purpose, so a plain `?metadata=` is refused as unknown; and
   * `declare`d, so an instance has no such own property until it is set (the whitelist would refuse one).
   */
  declare metadata?: Array<[key: string, value: string]>;
}

export const METADATA_FILTER_PREFIX = 'metadata.';
export const MAX_METADATA_FILTERS = 3;

/** Every other query field goes through the same pipe, with the same options, as any `@Query()` DTO. */
const queryPipe = createValidationPipe();

/**
 * Splits the `metadata.<key>` parameters off an account statement's raw query (their names are the client's own,
 * which a DTO cannot list), checks them as metadata keys and values (at most 3 filters; a key given twice
 * arrives as an array and is refused), then validates the rest as HistoryQueryDto: any other unknown
 * parameter is still 400.
 */
const accountStatementQueryPipe: PipeTransform<
  Record<string, unknown> | undefined,
  Promise<HistoryQueryDto>
> = {
  async transform(raw) {
    const entries = Object.entries(raw ?? {});
    const filters: Array<[string, string]> = [];
    const errors: FieldError[] = [];
    entries
      .filter(([name]) => name.startsWith(METADATA_FILTER_PREFIX))
      .forEach(([name, value], index) => {
        const key = name.slice(METADATA_FILTER_PREFIX.length);
        const field = name.slice(0, 60);
        const problem =
          index >= MAX_METADATA_FILTERS
            ? `is one filter too many: at most ${MAX_METADATA_FILTERS} metadata.<key> filters`
            : metadataProblem(Object.fromEntries([[key, value]]));
        if (problem) errors.push({ field, message: problem });
        else filters.push([key, value as string]);
      });
    if (errors.length > 0) {
      throw new AppError('VALIDATION_FAILED', errors.map((e) => `${e.field} ${e.message}`).join('; '), {
        errors,
      });
    }
    const rest = Object.fromEntries(entries.filter(([name]) => !name.startsWith(METADATA_FILTER_PREFIX)));
    const dto = (await queryPipe.transform(rest, {
      type: 'query',
      metatype: HistoryQueryDto,
    })) as HistoryQueryDto;
    if (filters.length > 0) dto.metadata = filters;
    return dto;
  },
};

const rawQuery = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): unknown => ctx.switchToHttp().getRequest<FastifyRequest>().query,
);

/**
 * The account statement's query, metadata filters included. A custom parameter decorator: the global
 * ValidationPipe leaves those alone, so the `metadata.*` names reach accountStatementQueryPipe instead of being
 * refused as unknown fields.
 */
export const AccountStatementQuery = (): ParameterDecorator => rawQuery(undefined, accountStatementQueryPipe);

/** The fields swagger documents well from a DTO given to ApiQuery (it drops enums, named below instead). */
class AccountStatementQueryDocs extends OmitType(HistoryQueryDto, ['status', 'type', 'direction'] as const) {}

/**
 * The statement's query parameters in the OpenAPI document: AccountStatementQuery is a custom decorator, which
 * swagger does not read, so they are declared here, metadata filters included.
 */
export function ApiAccountStatementQuery(): MethodDecorator {
  return applyDecorators(
    ApiQuery({ type: AccountStatementQueryDocs }),
    ApiQuery({ name: 'status', required: false, enum: STATUSES }),
    ApiQuery({ name: 'type', required: false, enum: TYPES }),
    ApiQuery({ name: 'direction', required: false, enum: DIRECTIONS }),
    ApiQuery({
      name: 'metadata.<key>',
      required: false,
      type: String,
      // No example: Swagger UI fills it into "Try it out" as `metadata.<key>=…`, a 400 on every Execute.
      description:
        `Exact match on a metadata key, e.g. \`metadata.orderId=A-1042\`; at most ${MAX_METADATA_FILTERS} ` +
        'such parameters, all of which must match. Keys as metadata keys: 1 to 40 of A-Z a-z 0-9 _ . -',
    }),
  );
}
