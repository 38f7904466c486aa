import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../common/auth/auth-user';
import { AppError } from '../common/errors/error-codes';
import type { Money } from '../common/money/money';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { AttemptRunner } from './engine/attempt-runner';
import type { Movement, MovementRequest, Outcome, TransferItem } from './engine/engine.types';
import { MovementEngine, namedBy } from './engine/movement-engine';
import { WriteCombiner } from './engine/write-combiner';
import { type IdempotencyHeader, IdempotentRequests, responseOf } from './idempotency';

/** What a caller asks for: the movement without its kind and caller (the service adds them). */
type Input<K extends Movement['kind']> = Omit<Extract<Movement, { kind: K }>, 'kind' | 'caller'>;
export type TransferInput = Input<'transfer'>;
export type CashInput = Input<'withdrawal'>;
export type RefundInput = Omit<Input<'refund'>, 'transactionId'>;

/**
 * The transfer engine's front door: the only way money moves. Each method names a movement and hands it
 * to the engine (engine/): the rules decide it against a fresh read, one statement writes it, the runner
 * retries conflicts. Answers are domain outcomes; the HTTP edge makes statuses and bodies of them.
 */
@Injectable()
export class TransferService {
  private readonly keys: IdempotentRequests;

  constructor(
    private readonly engine: MovementEngine,
    private readonly runner: AttemptRunner,
    private readonly combiner: WriteCombiner,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.keys = new IdempotentRequests((caller, key) => this.engine.storedResponse(caller, key));
  }

  transfer(caller: AuthUser, idem: IdempotencyHeader, input: TransferInput): Promise<Outcome> {
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
    return this.execute({ kind: 'transfer', caller: { id: caller.id }, ...input }, idem);
  }

  deposit(admin: AuthUser, idem: IdempotencyHeader, walletId: string, input: CashInput): Promise<Outcome> {
    return this.execute({ kind: 'deposit', caller: { id: admin.id }, walletId, ...input }, idem);
  }

  /** Up to 100 transfers from the caller's wallet in one request, applied in order; atomic or not. */
  batch(caller: AuthUser, idem: IdempotencyHeader, atomic: boolean, items: TransferItem[]): Promise<Outcome> {
    return this.execute({ kind: 'batch', caller: { id: caller.id }, atomic, items }, idem);
  }

  withdraw(caller: AuthUser, idem: IdempotencyHeader, input: CashInput): Promise<Outcome> {
    return this.execute({ kind: 'withdrawal', caller: { id: caller.id }, ...input }, idem);
  }

  /** Settles a hold: moves `amount` (default all that is held) and releases the rest. */
  capture(
    caller: AuthUser,
    idem: IdempotencyHeader,
    transactionId: string,
    amount?: Money,
  ): Promise<Outcome> {
    return this.execute({ kind: 'capture', caller: { id: caller.id }, transactionId, amount }, idem);
  }

  /** Refunds a completed transfer (the receiver or an admin), fully or partly. */
  refund(
    caller: AuthUser,
    idem: IdempotencyHeader,
    transactionId: string,
    input: RefundInput,
  ): Promise<Outcome> {
    return this.execute({ kind: 'refund', caller: { id: caller.id }, transactionId, ...input }, idem);
  }

  void(caller: AuthUser, idem: IdempotencyHeader, transactionId: string): Promise<Outcome> {
    return this.execute({ kind: 'void', caller: { id: caller.id }, transactionId }, idem);
  }

  /** Voids one expired hold (the expiry job). Returns false when another instance or a capture won. */
  async expire(transactionId: string): Promise<boolean> {
    const outcome = await this.run({ movement: { kind: 'expiry', transactionId } });
    if (outcome.kind === 'refused') {
      if (outcome.error.code === 'TRANSFER_NOT_PENDING') return false;
      throw outcome.error;
    }
    this.metrics.holdsExpired.inc();
    return true;
  }

  private async execute(
    movement: Movement & { caller: { id: string } },
    idem: IdempotencyHeader,
  ): Promise<Outcome> {
    const outcome = await this.keys.run(movement, idem, (request) => this.run(request));
    const status = responseOf(outcome, idem.requestId).status;
    this.metrics.movements.inc({ type: movement.kind, status: String(status) });
    this.metrics.countMoved(outcome);
    return outcome;
  }

  /** Through the write combiner (TRANSFER_QUEUE), or alone, straight against the database, when it is off. */
  private run(request: MovementRequest): Promise<Outcome> {
    if (!this.config.env.TRANSFER_QUEUE) return this.runner.run(request);
    return this.combiner.submit(request, this.queueKeys(request.movement));
  }

  /**
   * What the combiner keeps in arrival order: the wallets a movement names, the transaction it settles or
   * refunds, and the caller's own wallet when money leaves it.
   */
  private queueKeys(m: Movement): string[] {
    const { walletIds, transactionId } = namedBy(m);
    const own = m.kind === 'transfer' || m.kind === 'batch' || m.kind === 'withdrawal';
    return [
      ...(own ? [this.walletKey(m.caller.id)] : []),
      ...walletIds.map((id) => `w:${id}`),
      ...(transactionId ? [`t:${transactionId}`] : []),
    ];
  }

  /** The queue key of a user's wallet: its id once known, the user id until then. */
  private walletKey(userId: string): string {
    const walletId = this.engine.walletIdOf(userId);
    return walletId ? `w:${walletId}` : `u:${userId}`;
  }
}
