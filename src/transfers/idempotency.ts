import { createHash } from 'node:crypto';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../common/errors/error-codes';
import { respond } from '../common/http/params';
import { problemFromAppError } from '../common/http/problem-details';
import { TransactionDto } from './dto/transaction.dto';
import type {
  EngineState,
  IdempotencyContext,
  IdempotencyRecord,
  Movement,
  MovementRequest,
  Outcome,
  StoredResponse,
} from './engine/engine.types';
import { HOLD_SECONDS } from './transaction.record';

/**
 * Idempotency, all of it: the Idempotency-Key header, the request's fingerprint, the guard against a
 * duplicate in flight, the response kept with the key and its replay. The service enters through
 * `IdempotentRequests.run`; the engine asks `replayFrom` before deciding a movement and keeps `recordOf`
 * its outcome in the same write (the `ik` CTE of write-statement.ts), so a key's response commits with
 * its movement or not at all. Across instances the key's primary key is the guard: the loser of a race
 * gets a `duplicate` conflict, runs again and replays the winner's response.
 */

/** The Idempotency-Key a request carries, and the request's id (for the problem bodies kept with it). */
export interface IdempotencyHeader {
  key: string;
  requestId: string;
}

export type { IdempotencyContext };

const KEY = /^[\x20-\x7e]{1,255}$/;

/** The movements whose metadata is `{}` when the request has none. */
const WITH_METADATA = new Set<Movement['kind']>(['transfer', 'deposit', 'withdrawal', 'refund']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Reads the Idempotency-Key header of a money-moving request: missing or malformed is 400. */
export const Idempotency = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): IdempotencyHeader => {
    const request = ctx.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers['idempotency-key'];
    if (header === undefined) throw new AppError('IDEMPOTENCY_KEY_MISSING', 'Send an Idempotency-Key header');
    if (typeof header !== 'string' || !KEY.test(header)) {
      throw new AppError(
        'IDEMPOTENCY_KEY_INVALID',
        'Idempotency-Key must be 1 to 255 printable ASCII characters',
      );
    }
    return { key: header, requestId: String(request.id) };
  },
);

/** How a caller's key is named in memory (state, in-flight guard): keys are scoped per caller. */
export function keyId(caller: string, key: string): string {
  return `${caller}\u0000${key}`;
}

/**
 * The request's fingerprint: sha256 of the movement as the engine will run it, defaults applied, so
 * that two requests that mean the same (no body and `{}`, `atomic` absent and `atomic: false`, an amount
 * as "10" or "10.00", keys in any order, ids in any case) are one request, and anything else is another.
 * The caller is left out: keys are already scoped per caller.
 */
export function fingerprint(movement: Movement): string {
  const { caller: _caller, ...m } = 'caller' in movement ? movement : { ...movement, caller: undefined };
  const defaults: Record<string, unknown> = {};
  if (m.kind === 'transfer') {
    defaults.hold = m.hold === true;
    if (m.hold) defaults.holdExpiresInSeconds = m.holdExpiresInSeconds ?? HOLD_SECONDS.default;
  }
  if ('metadata' in m || WITH_METADATA.has(m.kind)) {
    defaults.metadata = ('metadata' in m ? m.metadata : undefined) ?? {};
  }
  if (m.kind === 'batch') {
    defaults.items = m.items.map((item) => ({ ...item, metadata: item.metadata ?? {} }));
  }
  return createHash('sha256')
    .update(canonical({ ...m, ...defaults }))
    .digest('hex');
}

/**
 * JSON with sorted keys and no undefined members; values with a JSON form (Money, Date) in that form;
 * a UUID in an `...Id` field in lower case (ids are compared case-insensitively).
 */
function canonical(value: unknown, key = ''): string {
  const v =
    value && typeof (value as { toJSON?: unknown }).toJSON === 'function'
      ? (value as { toJSON(): unknown }).toJSON()
      : value;
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x)).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x, k)}`).join(',')}}`;
  }
  if (typeof v === 'string' && key.endsWith('Id') && UUID.test(v)) return JSON.stringify(v.toLowerCase());
  return JSON.stringify(v) ?? 'null';
}

/**
 * The entry point: runs a caller's movement under its key. A key whose first request is running in this
 * instance answers the stored response when that request has already committed (the one running is then
 * itself a replay), else 409 IDEMPOTENCY_IN_PROGRESS instead of waiting.
 */
export class IdempotentRequests {
  private readonly running = new Set<string>();

  constructor(
    private readonly stored: (caller: string, key: string) => Promise<StoredResponse | undefined>,
  ) {}

  async run(
    movement: Movement & { caller: { id: string } },
    header: IdempotencyHeader,
    work: (request: MovementRequest) => Promise<Outcome>,
  ): Promise<Outcome> {
    const caller = movement.caller.id;
    const idem: IdempotencyContext = { ...header, requestHash: fingerprint(movement) };
    const id = keyId(caller, header.key);
    if (this.running.has(id)) {
      const stored = await this.stored(caller, header.key);
      if (!stored) throw inProgress();
      return replayOf(stored, idem.requestHash);
    }
    this.running.add(id);
    try {
      return await work({ movement, idem });
    } finally {
      this.running.delete(id);
    }
  }
}

function inProgress(): AppError {
  return new AppError('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still running', {
    retryAfter: 1,
  });
}

/** A request whose key already has a stored response: that response again, or 422 for another request. */
export function replayOf(stored: StoredResponse, requestHash: string): Outcome {
  if (stored.hash === requestHash) return { kind: 'replayed', response: stored };
  return {
    kind: 'refused',
    error: new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request'),
  };
}

/** The engine's replay: the outcome of a request whose key the state (or an earlier movement) already has. */
export function replayFrom(state: EngineState, request: MovementRequest): Outcome | undefined {
  const { movement, idem } = request;
  if (!idem || !('caller' in movement)) return undefined;
  const stored = state.idempotency.get(keyId(movement.caller.id, idem.key));
  return stored ? replayOf(stored, idem.requestHash) : undefined;
}

/** What the write keeps with a request's key: its response, byte for byte as the edge answers it. */
export function recordOf(
  request: MovementRequest,
  outcome: Outcome,
  transactionId: string | null,
): IdempotencyRecord | undefined {
  const { movement, idem } = request;
  if (!idem || !('caller' in movement)) return undefined;
  const { status, body } = responseOf(outcome, idem.requestId);
  return { caller: movement.caller.id, key: idem.key, hash: idem.requestHash, status, body, transactionId };
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

/**
 * The HTTP edge of a movement: a refusal is thrown for the problem-details filter (which adds Retry-After
 * and the problem body); anything else is answered with its status, and replays carry Idempotent-Replayed.
 */
export function answer<T>(reply: FastifyReply, outcome: Outcome, requestId: string): T {
  if (outcome.kind === 'refused') throw outcome.error;
  return respond<T>(reply, responseOf(outcome, requestId));
}
