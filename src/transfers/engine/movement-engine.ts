import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AppError } from '../../common/errors/error-codes';
import { inSpan } from '../../common/tracing/span';
import { keyId, replayOf, responseOf } from './stored-response';
import { BatchPlan, cloneState } from './batch-plan';
import { EngineRepository } from './engine.repository';
import type {
  ConflictReason,
  EngineState,
  IdempotencyRecord,
  Movement,
  MovementRequest,
  Outcome,
  StateQuery,
  StoredResponse,
} from './engine.types';
import { decide, type RuleContext } from './movement-rules';

/** How an attempt runs: optimistic (version checks only) or locked (wallets locked in id order first). */
export type Mode = 'optimistic' | 'locked';

/** What became of one request in an attempt: an outcome, or a conflict that means it must run again. */
export type AttemptResult = { kind: 'done'; outcome: Outcome } | { kind: 'retry'; reason: ConflictReason };

/**
 * One attempt at a batch of movements (one or many): read everything they need in one round trip, decide
 * each in arrival order against the in-memory state (later movements see earlier ones' effects), write the
 * net result as one statement. When the write finds that another instance moved some wallets, only the
 * movements that depend on those wallets come back as `retry`; the rest are decided again from the same
 * read and written at once.
 */
@Injectable()
export class MovementEngine {
  /** user id -> wallet id, learnt from every read. A wallet never changes owner, so entries never go stale. */
  private readonly wallets = new Map<string, string>();

  constructor(private readonly repository: EngineRepository) {}

  /** The wallet id of a user, when a read has already seen it. */
  walletIdOf(userId: string): string | undefined {
    return this.wallets.get(userId);
  }

  /** The response stored for a caller's key, if its first request has committed. */
  async storedResponse(caller: string, key: string): Promise<StoredResponse | undefined> {
    const q: StateQuery = { userIds: [], walletIds: [], transactionIds: [], keys: [{ caller, key }] };
    const state = await this.repository.readState(q);
    return state.idempotency.get(keyId(caller, key));
  }

  attempt(requests: MovementRequest[], mode: Mode): Promise<AttemptResult[]> {
    const attributes = { 'hfts.engine.mode': mode, 'hfts.engine.movements': requests.length };
    return inSpan('engine.attempt', attributes, async () => {
      const query = stateQuery(requests);
      if (mode === 'optimistic') return this.decideAndWrite(requests, query);
      return this.repository.transaction(async (manager) => {
        const probe = await this.repository.readState(query, manager);
        await this.repository.lockWallets(manager, [...probe.wallets.keys()]);
        return this.decideAndWrite(requests, query, manager);
      });
    });
  }

  private async decideAndWrite(
    requests: MovementRequest[],
    query: StateQuery,
    manager?: EntityManager,
  ): Promise<AttemptResult[]> {
    const read = await this.repository.readState(query, manager);
    for (const [userId, walletId] of read.walletOfUser) {
      if (this.wallets.size >= 100_000) this.wallets.clear();
      this.wallets.set(userId, walletId);
    }
    const results = new Array<AttemptResult | undefined>(requests.length);
    let todo = requests.map((_, i) => i);
    while (todo.length > 0) {
      const state = cloneState(read);
      const { plan, outcomes } = decideAll(
        todo.map((i) => requests[i]),
        state,
      );
      const write = plan.isEmpty
        ? { kind: 'committed' as const }
        : await this.repository.write(plan.build(), manager);
      if (write.kind === 'committed') {
        todo.forEach((i, n) => (results[i] = { kind: 'done', outcome: outcomes[n] }));
        break;
      }
      // Only what depends on the wallets that moved runs again; the rest is decided anew from this read.
      // Inside a transaction (the locked path) the failed statement aborted it: everything runs again.
      const again =
        !manager && write.reason === 'version' && write.walletIds.length > 0
          ? dependents(
              todo.map((i) => requests[i]),
              read,
              write.walletIds,
            )
          : todo.map(() => true);
      const next: number[] = [];
      todo.forEach((i, n) => {
        if (again[n]) results[i] = { kind: 'retry', reason: write.reason };
        else next.push(i);
      });
      todo = next;
    }
    return results as AttemptResult[];
  }
}

/** Decides the requests in order against one state; returns the write and each request's outcome. */
function decideAll(
  requests: MovementRequest[],
  state: EngineState,
): { plan: BatchPlan; outcomes: Outcome[] } {
  const now = new Date();
  const plan = new BatchPlan(state, now);
  const ctx = { now, newId: randomUUID };
  const outcomes = requests.map(({ movement, idem }): Outcome => {
    const caller = 'caller' in movement ? movement.caller.id : undefined;
    const keep = (outcome: Outcome, transactionId: string | null): IdempotencyRecord | undefined =>
      idem && caller
        ? {
            caller,
            key: idem.key,
            hash: idem.requestHash,
            ...responseOf(outcome, idem.requestId),
            transactionId,
          }
        : undefined;
    if (idem && caller) {
      const stored = state.idempotency.get(keyId(caller, idem.key));
      if (stored) return replayOf(stored, idem.requestHash);
    }
    if (movement.kind === 'batch') {
      const outcome = decideBatch(state, plan, movement, ctx);
      const record = keep(outcome, null);
      if (record) plan.keep(record);
      return outcome;
    }
    const decision = decide(state, movement, ctx);
    if (decision.kind === 'accepted') {
      const outcome: Outcome = {
        kind: 'applied',
        transaction: decision.transaction,
        created: decision.created,
      };
      plan.accept(decision, keep(outcome, decision.transaction.id));
      return outcome;
    }
    const outcome: Outcome = { kind: 'refused', error: decision.error };
    // Business refusals (422) are kept like successes: a retry with the same key gets the same answer.
    const record =
      decision.store && decision.error.status === 422
        ? keep(outcome, decision.record?.id ?? null)
        : undefined;
    if (record) plan.refuse(decision, record);
    return outcome;
  });
  return { plan, outcomes };
}

/**
 * A batch request: its transfers decided in order (each sees the balance the earlier ones left). Atomic:
 * tried first on a copy of the state; one refusal and nothing is applied nor recorded (422 BATCH_REFUSED
 * naming each refused item). Otherwise each item stands alone, FAILED records included, as its own
 * POST /transfers would.
 */
function decideBatch(
  state: EngineState,
  plan: BatchPlan,
  batch: Extract<Movement, { kind: 'batch' }>,
  ctx: RuleContext,
): Outcome {
  const transfers: Movement[] = batch.items.map((item) => ({
    kind: 'transfer',
    caller: batch.caller,
    ...item,
  }));
  if (batch.atomic) {
    const trial = cloneState(state);
    const trialPlan = new BatchPlan(trial, ctx.now);
    const refused: Array<{ index: number; code: string; detail: string }> = [];
    transfers.forEach((m, index) => {
      const d = decide(trial, m, ctx);
      if (d.kind === 'accepted') trialPlan.accept(d);
      else refused.push({ index, code: d.error.publicCode, detail: d.error.detail });
    });
    if (refused.length > 0) {
      const detail = `${refused.length} of ${transfers.length} transfers were refused; nothing moved`;
      return {
        kind: 'refused',
        error: new AppError('BATCH_REFUSED', detail, { fields: { errors: refused } }),
      };
    }
  }
  const items = transfers.map((m): Outcome => {
    const d = decide(state, m, ctx);
    if (d.kind === 'accepted') {
      plan.accept(d);
      return { kind: 'applied', transaction: d.transaction, created: true };
    }
    // An atomic batch was tried on the same state: it cannot be refused here.
    if (batch.atomic) throw new Error(`atomic batch item refused on the second pass: ${d.error.code}`);
    if (d.store && d.record) plan.record(d.record);
    return { kind: 'refused', error: d.error };
  });
  return { kind: 'batch', atomic: batch.atomic, items };
}

/** What a movement names: wallets by id, and the transaction it settles or refunds. */
export function namedBy(m: Movement): { walletIds: string[]; transactionId?: string } {
  switch (m.kind) {
    case 'transfer':
      return { walletIds: [m.toWalletId] };
    case 'batch':
      return { walletIds: m.items.map((i) => i.toWalletId) };
    case 'deposit':
      return { walletIds: [m.walletId] };
    case 'withdrawal':
      return { walletIds: [] };
    default:
      return { walletIds: [], transactionId: m.transactionId };
  }
}

/** What a movement may read: its caller (and the caller's wallet), what it names, a transaction's parties. */
function stateQuery(requests: MovementRequest[]): StateQuery {
  const q: StateQuery = { userIds: [], walletIds: [], transactionIds: [], keys: [] };
  for (const { movement: m, idem } of requests) {
    if ('caller' in m) {
      q.userIds.push(m.caller.id);
      if (idem) q.keys.push({ caller: m.caller.id, key: idem.key });
    }
    const named = namedBy(m);
    q.walletIds.push(...named.walletIds);
    if (named.transactionId) q.transactionIds.push(named.transactionId);
  }
  return q;
}

/** Everything a request's outcome may depend on: its wallets, its hold, its idempotency key. */
function resources(r: MovementRequest, state: EngineState): string[] {
  const m = r.movement;
  const { walletIds, transactionId } = namedBy(m);
  const out = [...walletIds];
  if ('caller' in m) {
    const own = state.walletOfUser.get(m.caller.id);
    if (own) out.push(own);
    if (r.idem) out.push(`k:${keyId(m.caller.id, r.idem.key)}`);
  }
  if (transactionId) {
    const tx = state.transactions.get(transactionId);
    out.push(`t:${transactionId}`);
    if (tx?.sourceWalletId) out.push(tx.sourceWalletId);
    if (tx?.destinationWalletId) out.push(tx.destinationWalletId);
  }
  return out;
}

/**
 * Which requests depend, directly or through an earlier request in the batch, on the given wallets:
 * walking in arrival order, a request that shares anything with the tainted set taints all it touches.
 */
function dependents(requests: MovementRequest[], state: EngineState, walletIds: string[]): boolean[] {
  const tainted = new Set(walletIds);
  return requests.map((r) => {
    const touched = resources(r, state);
    if (!touched.some((x) => tainted.has(x))) return false;
    for (const x of touched) tainted.add(x);
    return true;
  });
}
