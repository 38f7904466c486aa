import type { FastifyReply } from 'fastify';
import { respond } from '../../common/http/params';
import type { Outcome } from '../engine/engine.types';
import { responseOf } from '../engine/stored-response';

/**
 * The HTTP edge of a movement: a refusal is thrown for the problem-details filter (which adds Retry-After
 * and the problem body); anything else is answered with its status, and replays carry Idempotent-Replayed.
 */
export function answer<T>(reply: FastifyReply, outcome: Outcome, requestId: string): T {
  if (outcome.kind === 'refused') throw outcome.error;
  return respond<T>(reply, responseOf(outcome, requestId));
}
