import { Inject, Injectable, Optional } from '@nestjs/common';
import { AppError } from '../../common/errors/error-codes';
import { inSpan } from '../../common/tracing/span';
import { PrimaryHold } from '../../database/primary-hold';
import { keyId, recordOf, replayFrom } from '../idempotency';
import { BatchPlan, cloneState } from './batch-plan';
import { ENGINE_CLOCK, type EngineClock, SYSTEM_CLOCK } from './engine-clock';
import { ENGINE_STORE, type EngineSession, type EngineStore } from './engine.port';
import type {
  ConflictReason,
  EngineState,
  Movement,
  MovementRequest,
  Outcome,
  StateQuery,
  StoredResponse,
} from './engine.types';
import { decide, type RuleContext } from './movement-rules';
import { latestWindowStart } from './movement-rules.limits';

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

  private readonly clock: EngineClock;

  constructor(
    @Inject(ENGINE_STORE) private readonly store: EngineStore,
    private readonly hold: PrimaryHold,
    @Optional() @Inject(ENGINE_CLOCK) clock?: EngineClock,
  ) {
    this.clock = clock ?? SYSTEM_CLOCK;
  }

  /** The wallet id of a user, when a read has already seen it. */
  walletIdOf(userId: string): string | undefined {
    return this.wallets.get(userId);
  }

  /** The response stored for a caller's key, if its first request has committed. */
  async storedResponse(caller: string, key: string): Promise<StoredResponse | undefined> {
    const q: StateQuery = { userIds: [], walletIds: [], transactionIds: [], keys: [{ caller, key }] };
    const state = await this.hold.run(() => this.store.readState(q));
    return state.idempotency.get(keyId(caller, key));
  }

  /**
   * One attempt, run again from its read while the primary is moving (switchover, failover), up to
   * DB_PRIMARY_WAIT_MS: the read finds the Idempotency-Key of an attempt that committed after all, so a
   * second run replays it (src/database/primary-hold.ts).
   */
  attempt(requests: MovementRequest[], mode: Mode): Promise<AttemptResult[]> {
    return this.hold.run(() => this.attemptOnce(requests, mode));
  }

  private attemptOnce(requests: MovementRequest[], mode: Mode): Promise<AttemptResult[]> {
    const attributes = { 'hfts.engine.mode': mode, 'hfts.engine.movements': requests.length };
    return inSpan('engine.attempt', attributes, async () => {
      const query = stateQuery(requests);
      if (mode === 'optimistic') return this.decideAndWrite(requests, query, this.store, false);
      return this.store.locked(async (session) => {
        const probe = await session.readState(query);
        await session.lockWallets([...probe.wallets.keys()]);
        return this.decideAndWrite(requests, query, session, true);
      });
    });
  }

  private async decideAndWrite(
    requests: MovementRequest[],
    query: StateQuery,
    session: EngineSession,
    inTransaction: boolean,
  ): Promise<AttemptResult[]> {
    const read = await session.readState(query);
    for (const [userId, walletId] of read.walletOfUser) {
      if (this.wallets.size >= 100_000) this.wallets.clear();
      this.wallets.set(userId, walletId);
    }
    const results = new Array<AttemptResult | undefined>(requests.length);
    let todo = requests.map((_, i) => i);
    while (todo.length > 0) {
      const state = cloneState(read);
      // Never before a window a wallet's row keeps: an instance whose clock runs behind another's at a
      // window's turn counts its movements in the window that began, as their records' times say.
      const now = Math.max(this.clock.now(), latestWindowStart(read.wallets.values()));
      const { plan, outcomes } = decideAll(
        todo.map((i) => requests[i]),
        state,
        { now: new Date(now), newId: () => this.clock.newId() },
      );
      const write = plan.isEmpty ? { kind: 'committed' as const } : await session.write(plan.build());
      if (write.kind === 'committed') {
        todo.forEach((i, n) => (results[i] = { kind: 'done', outcome: outcomes[n] }));
        break;
      }
      // Only what depends on the wallets that moved runs again; the rest is decided anew from this read.
      // Inside a transaction (the locked path) the failed statement aborted it: everything runs again.
      const again =
        !inTransaction && write.reason === 'version' && write.walletIds.length > 0
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
  ctx: RuleContext,
): { plan: BatchPlan; outcomes: Outcome[] } {
  const plan = new BatchPlan(state, ctx.now);
  const outcomes = requests.map((request): Outcome => {
    const replay = replayFrom(state, request);
    if (replay) return replay;
    const { movement } = request;
    if (movement.kind === 'batch') {
      const outcome = decideBatch(state, plan, movement, ctx);
      const record = recordOf(request, outcome, null);
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
      plan.accept(decision, recordOf(request, outcome, decision.transaction.id));
      return outcome;
    }
    const outcome: Outcome = { kind: 'refused', error: decision.error };
    // Business refusals (422) are kept like successes: a retry with the same key gets the same answer.
    const record =
      decision.store && decision.error.status === 422
        ? recordOf(request, outcome, decision.record?.id ?? null)
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
