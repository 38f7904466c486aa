import { AppError } from '../../common/errors/error-codes';
import { problemFromAppError } from '../../common/http/problem-details';
import { TransactionDto } from '../dto/transaction.dto';
import type { Outcome, StoredResponse } from './engine.types';

/** How a caller's Idempotency-Key is named in memory (state, in-flight guard): keys are scoped per caller. */
export function keyId(caller: string, key: string): string {
  return `${caller}\u0000${key}`;
}

/** A request whose key already has a stored response: that response again, or 422 for another request. */
export function replayOf(stored: StoredResponse, requestHash: string): Outcome {
  if (stored.hash === requestHash) return { kind: 'replayed', response: stored };
  return {
    kind: 'refused',
    error: new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request'),
  };
}

/** What the HTTP edge answers for a movement's outcome: status, body, and whether it is a replay. */
export interface MovementResponse {
  status: number;
  body: unknown;
  replayed: boolean;
}

/**
 * The response of an outcome, as the client sees it. The idempotency record keeps exactly this (it commits
 * in the same statement as the movement), and the edge answers with it, so a replay is byte-identical.
 */
export function responseOf(outcome: Outcome, requestId: string): MovementResponse {
  switch (outcome.kind) {
    case 'applied':
      return {
        status: outcome.created ? 201 : 200,
        body: TransactionDto.from(outcome.transaction),
        replayed: false,
      };
    case 'replayed':
      return { status: outcome.response.status, body: outcome.response.body, replayed: true };
    case 'refused':
      return {
        status: outcome.error.status,
        body: problemFromAppError(outcome.error, requestId),
        replayed: false,
      };
    case 'batch': {
      const items = outcome.items.map((item, index) => {
        const r = responseOf(item, requestId);
        return item.kind === 'refused'
          ? { index, status: r.status, problem: r.body }
          : { index, status: r.status, transaction: r.body };
      });
      return { status: outcome.atomic ? 201 : 200, body: { items }, replayed: false };
    }
  }
}
