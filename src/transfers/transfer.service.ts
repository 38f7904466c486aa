import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AuthUser } from '../auth/auth-user';
import { AppError } from '../common/errors/error-codes';
import type { IdempotencyContext } from '../common/http/idempotency-key.decorator';
import { problemFromAppError } from '../common/http/problem-details';
import { Money } from '../common/money/money';
import { AppConfig } from '../config/app-config';
import { DEADLOCK_DETECTED, SERIALIZATION_FAILURE, sqlState, UNIQUE_VIOLATION } from '../database/pg-errors';
import { MetricsService } from '../health/metrics.service';
import { TransactionDto } from './dto/transaction.dto';
import {
  type EngineState,
  MovementsRepository,
  type StateQuery,
  type WalletChange,
  type WalletState,
  type WritePlan,
} from './movements.repository';
import { KeyedSerializer } from './keyed-serializer';
import type { TxRecord } from './transaction.record';

/** What a money-moving endpoint answers: a fresh result, or the first response replayed. */
export interface MovementResult {
  status: number;
  body: unknown;
  replayed: boolean;
}

export interface TransferInput {
  toWalletId: string;
  amount: Money;
  currency: string;
  description?: string;
  hold?: boolean;
  holdExpiresInSeconds?: number;
}

export interface CashInput {
  amount: Money;
  currency: string;
  reference?: string;
}

type Mode = 'optimistic' | 'locked';

/**
 * Who the caller must be for a movement, checked against the database (never the token or a cache):
 * `party`, the caller is the sender and the rules refuse an inactive sender themselves (422, recorded);
 * `user`, any ACTIVE user (403 ACCOUNT_INACTIVE otherwise); `admin`, an ACTIVE admin.
 */
type Actor = 'party' | 'user' | 'admin';

/** Decides what one attempt does, from a fresh read of the state. */
type Decision =
  { plan: WritePlan; result: MovementResult } | { refuse: AppError; record?: TxRecord; store: boolean };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The transfer engine: the only code that writes balances. Every movement (transfer, hold, capture,
 * void, expiry, deposit, withdrawal) is: read the state (one round trip), apply the business rules to
 * it in memory with Money, then write it all as one version-checked statement (see MovementsRepository).
 * A version conflict, deadlock or serialization failure rolls back and is retried with capped
 * exponential backoff and full jitter; from TRANSFER_LOCK_AFTER_ATTEMPTS on, an attempt locks the
 * wallets in id order first, so hot wallets stop burning retries.
 */
@Injectable()
export class TransferService {
  private readonly logger = new Logger(TransferService.name);
  /** Idempotency keys whose first request is running in this instance (the database is the real guard). */
  private readonly inFlight = new Set<string>();
  /** Queues movements per wallet inside this instance, so hot wallets do not burn optimistic retries. */
  private readonly queue = new KeyedSerializer();
  /** user id -> wallet id. A wallet never changes owner, so entries never go stale; bounded in size. */
  private readonly walletOfUser = new Map<string, string>();

  constructor(
    private readonly movements: MovementsRepository,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  transfer(caller: AuthUser, idem: IdempotencyContext, input: TransferInput): Promise<MovementResult> {
    if (input.holdExpiresInSeconds !== undefined) {
      const min = this.config.env.HOLD_MIN_EXPIRY_SECONDS;
      const problem = !input.hold
        ? 'is only accepted with hold: true'
        : input.holdExpiresInSeconds < min
          ? `must be at least ${min}`
          : undefined;
      if (problem) {
        throw new AppError('VALIDATION_FAILED', `holdExpiresInSeconds ${problem}`, {
          errors: [{ field: 'holdExpiresInSeconds', message: problem }],
        });
      }
    }
    const keys = [this.walletKey(caller.id), `w:${input.toWalletId}`];
    return this.execute(
      'transfer',
      'party',
      caller,
      idem,
      keys,
      { ownerId: caller.id, walletIds: [input.toWalletId] },
      (state, now) => {
        const source = state.wallets.find((w) => w.userId === caller.id);
        if (!source) return this.refuse('WALLET_NOT_FOUND', 'You have no wallet yet', false);
        const dest = state.wallets.find((w) => w.id === input.toWalletId);
        if (!dest) return this.refuse('WALLET_NOT_FOUND', 'The destination wallet does not exist', false);
        if (dest.id === source.id)
          return this.refuse('SAME_WALLET', 'You cannot transfer to your own wallet');
        const mismatch = [source, dest].find((w) => w.currency !== input.currency);
        if (mismatch) {
          return this.refuse(
            'CURRENCY_MISMATCH',
            `The ${mismatch === source ? 'source' : 'destination'} wallet holds ${mismatch.currency}`,
          );
        }
        const hold = input.hold === true;
        const tx: TxRecord = {
          id: randomUUID(),
          type: 'TRANSFER',
          status: hold ? 'PENDING' : 'COMPLETED',
          sourceWalletId: source.id,
          destinationWalletId: dest.id,
          amount: input.amount,
          heldAmount: hold ? input.amount : null,
          currency: input.currency,
          description: input.description ?? null,
          reference: null,
          failureReason: null,
          initiatedBy: caller.id,
          holdExpiresAt: hold
            ? new Date(now.getTime() + (input.holdExpiresInSeconds ?? 604800) * 1000)
            : null,
          createdAt: now,
          completedAt: hold ? null : now,
        };
        const inactive = this.inactiveParty([source, dest]);
        if (inactive) return this.refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, now);
        if (available(source).lt(input.amount)) {
          return this.refuseRecorded(
            'INSUFFICIENT_FUNDS',
            'The wallet does not have enough available funds',
            tx,
            now,
          );
        }
        if (!dest.balance.plus(input.amount).fitsBalance()) {
          return this.refuse(
            'BALANCE_LIMIT_EXCEEDED',
            'The destination balance would pass 14 integer digits',
          );
        }
        // A hold changes only the sender's wallet; the receiver must still be ACTIVE when it is written.
        const actors = hold ? { active: [dest.userId], admins: [] } : undefined;
        const wallets: WalletChange[] = hold
          ? [
              {
                id: source.id,
                version: source.version,
                balance: Money.ZERO,
                held: input.amount,
                requireActive: true,
              },
            ]
          : [
              { ...debit(source, input.amount), requireActive: true },
              { ...credit(dest, input.amount), requireActive: true },
            ];
        return this.accept(idem, caller, { wallets, insert: tx, actors, now }, tx, 201);
      },
    );
  }

  deposit(
    admin: AuthUser,
    idem: IdempotencyContext,
    walletId: string,
    input: CashInput,
  ): Promise<MovementResult> {
    return this.execute(
      'deposit',
      'admin',
      admin,
      idem,
      [`w:${walletId}`],
      { walletIds: [walletId] },
      (state, now) => {
        const wallet = state.wallets.find((w) => w.id === walletId);
        if (!wallet) return this.refuse('WALLET_NOT_FOUND', 'The wallet does not exist', false);
        if (wallet.currency !== input.currency)
          return this.refuse('CURRENCY_MISMATCH', `The wallet holds ${wallet.currency}`);
        const tx = this.cashRecord('DEPOSIT', admin, null, wallet.id, input, now);
        const inactive = this.inactiveParty([wallet]);
        if (inactive) return this.refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, now);
        if (!wallet.balance.plus(input.amount).fitsBalance()) {
          return this.refuse('BALANCE_LIMIT_EXCEEDED', 'The balance would pass 14 integer digits');
        }
        const plan = { wallets: [{ ...credit(wallet, input.amount), requireActive: true }], insert: tx, now };
        return this.accept(idem, admin, plan, tx, 201);
      },
    );
  }

  withdraw(caller: AuthUser, idem: IdempotencyContext, input: CashInput): Promise<MovementResult> {
    return this.execute(
      'withdrawal',
      'party',
      caller,
      idem,
      [this.walletKey(caller.id)],
      { ownerId: caller.id },
      (state, now) => {
        const wallet = state.wallets.find((w) => w.userId === caller.id);
        if (!wallet) return this.refuse('WALLET_NOT_FOUND', 'You have no wallet yet', false);
        if (wallet.currency !== input.currency)
          return this.refuse('CURRENCY_MISMATCH', `The wallet holds ${wallet.currency}`);
        const tx = this.cashRecord('WITHDRAWAL', caller, wallet.id, null, input, now);
        const inactive = this.inactiveParty([wallet]);
        if (inactive) return this.refuseRecorded('ACCOUNT_INACTIVE_PARTY', inactive, tx, now);
        if (available(wallet).lt(input.amount)) {
          return this.refuseRecorded(
            'INSUFFICIENT_FUNDS',
            'The wallet does not have enough available funds',
            tx,
            now,
          );
        }
        const plan = { wallets: [{ ...debit(wallet, input.amount), requireActive: true }], insert: tx, now };
        return this.accept(idem, caller, plan, tx, 201);
      },
    );
  }

  /** Settles a hold: moves `amount` (default all that is held) and releases the rest. */
  capture(
    caller: AuthUser,
    idem: IdempotencyContext,
    transferId: string,
    amount?: Money,
  ): Promise<MovementResult> {
    return this.execute(
      'capture',
      'user',
      caller,
      idem,
      [`t:${transferId}`],
      { transactionId: transferId },
      (state, now) => {
        const found = this.pendingHold(caller, state, transferId, now);
        if ('refuse' in found) return found;
        const { tx, source, dest } = found;
        const held = tx.heldAmount as Money;
        const captured = amount ?? held;
        if (captured.gt(held)) return this.refuse('AMOUNT_EXCEEDS_HOLD', `Only ${held.toFixed4()} is held`);
        // Money never leaves a SUSPENDED or CLOSED account: the hold stays PENDING (void and expiry release it).
        const inactive = this.inactiveParty([source, dest]);
        if (inactive) return this.refuse('ACCOUNT_INACTIVE_PARTY', inactive);
        if (!dest.balance.plus(captured).fitsBalance()) {
          return this.refuse(
            'BALANCE_LIMIT_EXCEEDED',
            'The destination balance would pass 14 integer digits',
          );
        }
        const settled: TxRecord = { ...tx, status: 'COMPLETED', amount: captured, completedAt: now };
        const plan: WritePlan = {
          wallets: [
            { ...debit(source, captured), held: held.neg(), requireActive: true },
            { ...credit(dest, captured), requireActive: true },
          ],
          settle: { id: tx.id, status: 'COMPLETED', amount: captured, failureReason: null, at: now },
          actors: found.actors,
          now,
        };
        return this.accept(idem, caller, plan, settled, 200);
      },
    );
  }

  void(caller: AuthUser, idem: IdempotencyContext, transferId: string): Promise<MovementResult> {
    return this.execute(
      'void',
      'user',
      caller,
      idem,
      [`t:${transferId}`],
      { transactionId: transferId },
      (state, now) => {
        const found = this.pendingHold(caller, state, transferId, now);
        if ('refuse' in found) return found;
        return this.release(found.tx, found.source, 'VOIDED', now, (plan, settled) =>
          this.accept(idem, caller, { ...plan, actors: found.actors }, settled, 200),
        );
      },
    );
  }

  /** Voids one expired hold (the expiry job). Returns false when another instance or a capture won. */
  async expire(transferId: string): Promise<boolean> {
    const system = {
      id: '00000000-0000-0000-0000-000000000000',
      email: 'system',
      role: 'ADMIN' as const,
      iat: 0,
    };
    try {
      await this.serialized([`t:${transferId}`], () =>
        this.attempts('expiry', async (mode) => {
          const decide = (state: EngineState, now: Date): Decision => {
            const tx = state.transaction;
            if (!tx || tx.status !== 'PENDING' || !tx.holdExpiresAt || tx.holdExpiresAt > now) {
              return this.refuse('TRANSFER_NOT_PENDING', 'Nothing to expire', false);
            }
            const source = state.wallets.find((w) => w.id === tx.sourceWalletId) as WalletState;
            return this.release(tx, source, 'EXPIRED', now, (plan, settled) => ({
              plan,
              result: { status: 200, body: TransactionDto.from(settled), replayed: false },
            }));
          };
          return this.runOnce(mode, { caller: system.id, key: '', transactionId: transferId }, decide);
        }),
      );
      this.metrics.holdsExpired.inc();
      return true;
    } catch (err) {
      if (err instanceof AppError && err.code === 'TRANSFER_NOT_PENDING') return false;
      throw err;
    }
  }

  // --- the rules shared by several movements ---

  private pendingHold(
    caller: AuthUser,
    state: EngineState,
    transferId: string,
    now: Date,
  ):
    | { tx: TxRecord; source: WalletState; dest: WalletState; actors: WritePlan['actors'] }
    | Extract<Decision, { refuse: AppError }> {
    const tx = state.transaction;
    const source = state.wallets.find((w) => w.id === tx?.sourceWalletId);
    const dest = state.wallets.find((w) => w.id === tx?.destinationWalletId);
    // The role as the database has it now: a token issued to a former admin grants nothing.
    const isAdmin = state.caller?.role === 'ADMIN';
    if (
      !tx ||
      tx.type !== 'TRANSFER' ||
      !source ||
      !dest ||
      (!isAdmin && caller.id !== source.userId && caller.id !== dest.userId)
    ) {
      return this.refuse('TRANSACTION_NOT_FOUND', 'No such transfer', false);
    }
    if (!isAdmin && caller.id !== dest.userId) {
      return this.refuse('FORBIDDEN', 'Only the receiver or an admin can capture or void a hold', false);
    }
    if (tx.status !== 'PENDING' || !tx.heldAmount) {
      return this.refuse('TRANSFER_NOT_PENDING', `The transfer is ${tx.status}, not a pending hold`, false);
    }
    if (tx.holdExpiresAt && tx.holdExpiresAt <= now) {
      return this.refuse('TRANSFER_NOT_PENDING', 'The hold has expired', false);
    }
    // Acting as an admin on someone else's hold: the write checks the caller is still an admin.
    const actors = { active: [], admins: caller.id === dest.userId ? [] : [caller.id] };
    return { tx, source, dest, actors };
  }

  private release(
    tx: TxRecord,
    source: WalletState,
    reason: 'VOIDED' | 'EXPIRED',
    now: Date,
    done: (plan: WritePlan, settled: TxRecord) => Decision,
  ): Decision {
    const held = tx.heldAmount as Money;
    const settled: TxRecord = { ...tx, status: 'FAILED', failureReason: reason, completedAt: now };
    const plan: WritePlan = {
      wallets: [
        {
          id: source.id,
          version: source.version,
          balance: Money.ZERO,
          held: held.neg(),
          requireActive: false,
        },
      ],
      settle: { id: tx.id, status: 'FAILED', amount: tx.amount, failureReason: reason, at: now },
      now,
    };
    return done(plan, settled);
  }

  private inactiveParty(wallets: WalletState[]): string | undefined {
    const inactive = wallets.find((w) => w.userStatus !== 'ACTIVE');
    return inactive ? `The owner of wallet ${inactive.id} is ${inactive.userStatus}` : undefined;
  }

  private cashRecord(
    type: 'DEPOSIT' | 'WITHDRAWAL',
    caller: AuthUser,
    source: string | null,
    dest: string | null,
    input: CashInput,
    now: Date,
  ): TxRecord {
    return {
      id: randomUUID(),
      type,
      status: 'COMPLETED',
      sourceWalletId: source,
      destinationWalletId: dest,
      amount: input.amount,
      heldAmount: null,
      currency: input.currency,
      description: null,
      reference: input.reference ?? null,
      failureReason: null,
      initiatedBy: caller.id,
      holdExpiresAt: null,
      createdAt: now,
      completedAt: now,
    };
  }

  private refuse(
    code: AppError['code'],
    detail: string,
    store = true,
  ): Extract<Decision, { refuse: AppError }> {
    return { refuse: new AppError(code, detail), store };
  }

  /** A refusal kept as a FAILED transaction (insufficient funds, inactive party), with its id in the 422. */
  private refuseRecorded(
    code: 'INSUFFICIENT_FUNDS' | 'ACCOUNT_INACTIVE_PARTY',
    detail: string,
    tx: TxRecord,
    now: Date,
  ): Decision {
    const reason = code === 'ACCOUNT_INACTIVE_PARTY' ? 'ACCOUNT_INACTIVE' : code;
    const record: TxRecord = {
      ...tx,
      status: 'FAILED',
      failureReason: reason,
      heldAmount: null,
      holdExpiresAt: null,
      completedAt: now,
    };
    return {
      refuse: new AppError(code, detail, { fields: { transactionId: record.id } }),
      record,
      store: true,
    };
  }

  private accept(
    idem: IdempotencyContext,
    caller: AuthUser,
    plan: WritePlan,
    tx: TxRecord,
    status: number,
  ): Decision {
    const body = TransactionDto.from(tx);
    plan.idempotency = { caller: caller.id, key: idem.key, hash: idem.requestHash, status, body };
    return { plan, result: { status, body, replayed: false } };
  }

  // --- execution: idempotency, attempts, retries ---

  /** Runs a movement behind earlier ones on the same keys (TRANSFER_QUEUE), or at once when the queue is off. */
  private serialized<T>(keys: string[], task: () => Promise<T>): Promise<T> {
    return this.config.env.TRANSFER_QUEUE ? this.queue.run(keys, task) : task();
  }

  /** The queue key of a user's wallet: its id once known, the user id until then. */
  private walletKey(userId: string): string {
    const walletId = this.walletOfUser.get(userId);
    return walletId ? `w:${walletId}` : `u:${userId}`;
  }

  private remember(wallets: WalletState[]): void {
    for (const w of wallets) {
      if (this.walletOfUser.has(w.userId)) continue;
      if (this.walletOfUser.size >= 100_000) this.walletOfUser.clear();
      this.walletOfUser.set(w.userId, w.id);
    }
  }

  private async execute(
    kind: string,
    actor: Actor,
    caller: AuthUser,
    idem: IdempotencyContext,
    keys: string[],
    query: Omit<StateQuery, 'caller' | 'key'>,
    decide: (state: EngineState, now: Date) => Decision,
  ): Promise<MovementResult> {
    const flightKey = `${caller.id}\u0000${idem.key}`;
    if (this.inFlight.has(flightKey)) {
      throw new AppError('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still running', {
        retryAfter: 1,
      });
    }
    this.inFlight.add(flightKey);
    try {
      const stateQuery: StateQuery = { ...query, caller: caller.id, key: idem.key };
      const result = await this.serialized(keys, () =>
        this.attempts(kind, (mode) =>
          this.runOnce(
            mode,
            stateQuery,
            (state, now) => {
              this.remember(state.wallets);
              if (state.idempotency) return { replay: state.idempotency };
              const barred = callerRefusal(actor, state);
              if (barred) return { refuse: barred, store: false };
              const decision = withCaller(decide(state, now), caller.id, actor);
              if ('refuse' in decision && decision.store && decision.refuse.status === 422) {
                // Business refusals are kept like successes, so a retry with the same key gets the same answer.
                const body = problemFromAppError(decision.refuse, idem.requestId);
                const plan: WritePlan = {
                  wallets: [],
                  insert: decision.record,
                  idempotency: {
                    caller: caller.id,
                    key: idem.key,
                    hash: idem.requestHash,
                    status: 422,
                    body,
                  },
                  actors: callerActors(caller.id, actor),
                  now,
                };
                return { plan, error: decision.refuse };
              }
              return decision;
            },
            idem.requestHash,
          ),
        ),
      );
      this.metrics.movements.inc({ type: kind, status: String(result.status) });
      return result;
    } finally {
      this.inFlight.delete(flightKey);
    }
  }

  /** One attempt: read, decide, write. Optimistic by default; `locked` takes row locks in id order first. */
  private async runOnce(
    mode: Mode,
    query: StateQuery,
    decide: (
      state: EngineState,
      now: Date,
    ) =>
      Decision | { replay: NonNullable<EngineState['idempotency']> } | { plan: WritePlan; error: AppError },
    requestHash?: string,
  ): Promise<MovementResult> {
    // A refusal that must be kept (its FAILED record and stored response) is returned out of the attempt
    // and thrown only after the write committed: thrown inside the locked path's transaction, it would roll
    // its own record back, and the key would later move money.
    const attempt = async (manager?: EntityManager): Promise<MovementResult | { stored: AppError }> => {
      if (manager) {
        const probe = await this.movements.readState(query, manager);
        await this.movements.lockWallets(
          manager,
          probe.wallets.map((w) => w.id),
        );
      }
      const state = await this.movements.readState(query, manager);
      const decision = decide(state, new Date());
      if ('replay' in decision) {
        if (decision.replay.hash !== requestHash) {
          throw new AppError(
            'IDEMPOTENCY_KEY_REUSED',
            'This Idempotency-Key was used for a different request',
          );
        }
        return { status: decision.replay.status, body: decision.replay.body, replayed: true };
      }
      if ('refuse' in decision) throw decision.refuse;
      try {
        await this.movements.write(decision.plan, manager);
      } catch (err) {
        // The same key committed by a concurrent request (another instance): answer with its response.
        if (
          sqlState(err) === UNIQUE_VIOLATION &&
          /idempotency_keys_pkey/.test(String((err as { constraint?: string }).constraint ?? err))
        ) {
          throw new ReplayNeeded();
        }
        throw err;
      }
      if ('error' in decision) return { stored: decision.error };
      return decision.result;
    };
    const outcome = mode === 'locked' ? await this.movements.transaction((m) => attempt(m)) : await attempt();
    if ('stored' in outcome) throw outcome.stored;
    return outcome;
  }

  private async attempts(
    kind: string,
    run: (mode: Mode) => Promise<MovementResult>,
  ): Promise<MovementResult> {
    const e = this.config.env;
    const started = Date.now();
    for (let n = 1; ; n++) {
      // Optimistic until TRANSFER_LOCK_AFTER_ATTEMPTS or the retry time budget is spent; then the wallets
      // are locked in id order, where a version can no longer change under the attempt.
      const escalate =
        (e.TRANSFER_LOCK_AFTER_ATTEMPTS > 0 && n >= e.TRANSFER_LOCK_AFTER_ATTEMPTS) ||
        Date.now() - started >= e.TRANSFER_MAX_RETRY_MS;
      const mode: Mode = escalate ? 'locked' : 'optimistic';
      try {
        const result = await run(mode);
        this.metrics.transferAttempts.inc({ kind: mode, outcome: 'ok' });
        return result;
      } catch (err) {
        const reason = err instanceof ReplayNeeded ? 'duplicate' : retryReason(err);
        if (!reason) {
          this.metrics.transferAttempts.inc({
            kind: mode,
            outcome: err instanceof AppError ? 'refused' : 'error',
          });
          throw err;
        }
        this.metrics.transferAttempts.inc({ kind: mode, outcome: 'conflict' });
        if (reason !== 'duplicate') this.metrics.transferConflicts.inc({ reason });
        if (n >= e.TRANSFER_MAX_ATTEMPTS) {
          this.logger.warn(`${kind}: still conflicting after ${n} attempts (${reason})`);
          throw new AppError('CONCURRENCY_CONFLICT', 'The wallets kept changing during the request; retry', {
            retryAfter: 1,
          });
        }
        this.metrics.transferRetries.inc();
        // Capped exponential backoff with full jitter; a lost idempotency race retries at once (it replays).
        if (reason !== 'duplicate' && mode === 'optimistic') {
          await sleep(
            Math.random() * Math.min(e.TRANSFER_BACKOFF_CAP_MS, e.TRANSFER_BACKOFF_BASE_MS * 2 ** (n - 1)),
          );
        }
      }
    }
  }
}

class ReplayNeeded extends Error {}

/** Why the caller may not make this movement at all, from the database's view of them (not the token's). */
function callerRefusal(actor: Actor, state: EngineState): AppError | undefined {
  if (actor === 'party') return undefined; // the rules refuse an inactive sender, recorded as FAILED
  if (state.caller?.status !== 'ACTIVE') {
    return new AppError('ACCOUNT_INACTIVE', `Your account is ${state.caller?.status ?? 'gone'}`);
  }
  if (actor === 'admin' && state.caller.role !== 'ADMIN') {
    return new AppError('FORBIDDEN', 'Only an admin can do this');
  }
  return undefined;
}

/** The caller's own conditions, checked again inside the write (a sender is checked through its wallet). */
function callerActors(callerId: string, actor: Actor): NonNullable<WritePlan['actors']> {
  if (actor === 'party') return { active: [], admins: [] };
  return { active: [callerId], admins: actor === 'admin' ? [callerId] : [] };
}

function withCaller(decision: Decision, callerId: string, actor: Actor): Decision {
  if (!('plan' in decision)) return decision;
  const own = callerActors(callerId, actor);
  const plan = decision.plan;
  plan.actors = {
    active: [...own.active, ...(plan.actors?.active ?? [])],
    admins: [...own.admins, ...(plan.actors?.admins ?? [])],
  };
  return decision;
}

function retryReason(err: unknown): string | undefined {
  const code = sqlState(err);
  if (code === SERIALIZATION_FAILURE)
    return /wallet version conflict/.test(String(err)) ? 'version' : 'serialization';
  if (code === DEADLOCK_DETECTED) return 'deadlock';
  return undefined;
}

function available(w: WalletState): Money {
  return w.balance.minus(w.held);
}

function debit(w: WalletState, amount: Money): Omit<WalletChange, 'requireActive'> {
  return { id: w.id, version: w.version, balance: amount.neg(), held: Money.ZERO, ledger: amount.neg() };
}

function credit(w: WalletState, amount: Money): Omit<WalletChange, 'requireActive'> {
  return { id: w.id, version: w.version, balance: amount, held: Money.ZERO, ledger: amount };
}
