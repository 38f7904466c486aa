import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import Ajv from 'ajv';
import { isUUID } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { METADATA_KEY, METADATA_MAX_KEYS, metadataProblem, UNSTORABLE } from '../../common/http/field-rules';
import { createValidationPipe } from '../../common/http/validation';
import { MONEY_PATTERN } from '../../common/money/money';
import { CURRENCIES } from '../../common/money/validators';
import { HOLD_SECONDS } from '../transaction.record';
import { CreateTransferDto } from './movement.dto';

/** A body the fast schema accepted: the DTO's fields, each already as the slow path would leave it. */
type FastBody = Pick<
  CreateTransferDto,
  'toWalletId' | 'amount' | 'currency' | 'description' | 'hold' | 'holdExpiresInSeconds' | 'metadata'
>;

/**
 * Metadata keys the slow path drops without a word, so bodies with them take it: ValidationPipe deletes
 * `__proto__`, `prototype` and `constructor` (its prototype-pollution guard), class-transformer skips any
 * other member of Object.prototype (`toString`, `valueOf`, ...).
 */
const DROPPED_KEYS = [...Object.getOwnPropertyNames(Object.prototype), 'prototype'];

/**
 * A POST /transfers body that is certainly valid: every rule of CreateTransferDto, or stricter. It only
 * ever decides that the slow path may be skipped; whatever it refuses goes through the ValidationPipe,
 * which gives today's answer and error body. So it may refuse valid bodies (an upper-case wallet id,
 * which the slow path lower-cases), never accept an invalid one or one the slow path would change.
 */
export const FAST_TRANSFER_SCHEMA = {
  type: 'object',
  required: ['toWalletId', 'amount', 'currency'],
  additionalProperties: false,
  properties: {
    // Lower case only: the slow path lower-cases, so for these the value is the same. The exact UUID
    // rule (versions, nil and max) is class-validator's own isUUID, checked in isCertainlyValid.
    toWalletId: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' },
    // Greater than zero: the same test as IsAmount's, a non-zero digit somewhere.
    amount: { type: 'string', allOf: [{ pattern: MONEY_PATTERN.source }, { pattern: '[1-9]' }] },
    currency: { enum: [...CURRENCIES] },
    // maxLength counts code points, never fewer than class-validator's MaxLength counts (it also counts
    // a character with its emoji variation selector as one): stricter, never looser.
    description: { type: 'string', maxLength: 500 },
    hold: { type: 'boolean' },
    holdExpiresInSeconds: { type: 'integer', maximum: HOLD_SECONDS.max },
    metadata: {
      type: 'object',
      maxProperties: METADATA_MAX_KEYS,
      propertyNames: { type: 'string', pattern: METADATA_KEY.source, not: { enum: DROPPED_KEYS } },
      // In code points here; the exact rule (in UTF-16 units, storable) is metadataProblem's, run after.
      additionalProperties: { type: 'string', minLength: 1, maxLength: 500 },
    },
  },
} as const;

// No coercion, no defaults, no removal (ajv's defaults): the validator never changes the body.
const fastSchema = new Ajv().compile<FastBody>(FAST_TRANSFER_SCHEMA);

const storable = (s: string | undefined): boolean => s === undefined || !UNSTORABLE.test(s);

/** The fast schema, then the rules a JSON schema states awkwardly, with the slow path's own functions. */
export function isCertainlyValid(body: unknown): body is FastBody {
  if (!fastSchema(body)) return false;
  return (
    isUUID(body.toWalletId, 'all') &&
    storable(body.description) &&
    (body.metadata === undefined || metadataProblem(body.metadata) === undefined)
  );
}

const slowPath = createValidationPipe();

/**
 * The body of POST /transfers as a CreateTransferDto, exactly as the global ValidationPipe makes it:
 * built directly when the body is certainly valid (plainToInstance and class-validator are most of the
 * validation cost), otherwise by that pipe itself, so every refusal is today's.
 * test/unit/transfer-fast-path.spec.ts checks both answers agree on generated bodies.
 */
export async function transferBody(body: unknown): Promise<CreateTransferDto> {
  if (!isCertainlyValid(body)) {
    return slowPath.transform(body, {
      type: 'body',
      metatype: CreateTransferDto,
    }) as Promise<CreateTransferDto>;
  }
  // Same class, same own keys in the same order as plainToInstance gives: the class's fields, then the
  // body's; metadata copied, as class-transformer copies nested objects.
  const dto = Object.assign(new CreateTransferDto(), body);
  if (body.metadata !== undefined) dto.metadata = { ...body.metadata };
  return dto;
}

/**
 * The validated body of POST /transfers (see transferBody). A custom parameter: the global
 * ValidationPipe passes it through untouched (validateCustomDecorators is off).
 */
export const TransferBody = createParamDecorator((_data: unknown, ctx: ExecutionContext) =>
  transferBody(ctx.switchToHttp().getRequest<FastifyRequest>().body),
);
