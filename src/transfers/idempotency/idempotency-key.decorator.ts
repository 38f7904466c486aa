import { createHash } from 'node:crypto';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../common/errors/error-codes';
import type { IdempotencyContext } from '../engine/engine.types';

export type { IdempotencyContext };

const KEY = /^[\x20-\x7e]{1,255}$/;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * JSON with sorted keys, so that key order in the body does not make two equal requests differ; and,
 * as ids are compared case-insensitively (they reach services lower-cased), a UUID in an `...Id` field
 * in lower case, so that a retry spelling the id in another case is the same request.
 */
function canonical(value: unknown, key = ''): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v)).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v, k)}`).join(',')}}`;
  }
  if (typeof value === 'string' && key.endsWith('Id') && UUID.test(value)) {
    return JSON.stringify(value.toLowerCase());
  }
  return JSON.stringify(value) ?? 'null';
}

export const Idempotency = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): IdempotencyContext => {
    const request = ctx.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers['idempotency-key'];
    if (header === undefined) throw new AppError('IDEMPOTENCY_KEY_MISSING', 'Send an Idempotency-Key header');
    if (typeof header !== 'string' || !KEY.test(header)) {
      throw new AppError(
        'IDEMPOTENCY_KEY_INVALID',
        'Idempotency-Key must be 1 to 255 printable ASCII characters',
      );
    }
    // Routes are lower case: only ids can differ in case, and they name the same thing in any case.
    const path = request.url.split('?')[0].toLowerCase();
    const requestHash = createHash('sha256')
      .update(`${request.method} ${path} ${canonical(request.body ?? null)}`)
      .digest('hex');
    return { key: header, requestHash, requestId: String(request.id) };
  },
);
