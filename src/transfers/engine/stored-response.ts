import { problemFromAppError } from '../../common/http/problem-details';
import { TransactionDto } from '../dto/transaction.dto';
import type { Outcome } from './engine.types';

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
