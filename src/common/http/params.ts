import { type PipeTransform } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { FastifyReply } from 'fastify';
import { AppError } from '../errors/error-codes';
import { PROBLEM_CONTENT_TYPE } from './problem-details';

/**
 * A path id that must be a UUID: anything else is 400 VALIDATION_FAILED, before any lookup. It reaches
 * the handler lower-cased: the contract compares ids case-insensitively, and services compare them as
 * strings (a wallet named in upper case was 404, and a transfer to one's own wallet in upper case was
 * not SAME_WALLET).
 */
export const UUID_PARAM: PipeTransform<unknown, string> = {
  transform(value: unknown): string {
    if (typeof value !== 'string' || !isUUID(value, 'all')) {
      throw new AppError('VALIDATION_FAILED', 'id must be a UUID', {
        errors: [{ field: 'id', message: 'must be a UUID' }],
      });
    }
    return value.toLowerCase();
  },
};

/** Sends what a money-moving service call answered: its status, and the replay marker when replayed. */
export function respond<T>(
  reply: FastifyReply,
  result: { status: number; body: unknown; replayed: boolean },
): T {
  void reply.status(result.status);
  if (result.replayed) void reply.header('Idempotent-Replayed', 'true');
  if (result.status >= 400) void reply.header('Content-Type', PROBLEM_CONTENT_TYPE);
  return result.body as T;
}
