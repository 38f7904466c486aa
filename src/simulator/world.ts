import type { AuthUser } from '../common/auth/auth-user';
import { AppError } from '../common/errors/error-codes';
import { Money } from '../common/money/money';
import { mapDatabaseError } from '../database/pg-errors';
import type { Outcome } from '../transfers/engine/engine.types';
import { MemoryStore } from '../transfers/engine/memory-store';
import { responseOf } from '../transfers/idempotency';
import { type Action, CLIENTS, INSTANCES, type RequestSpec } from './actions';
import { FakeClock } from './fake-clock';
import { Gate, GatedStore } from './gated-store';
import { Instance, simulationConfig } from './instance';
import { Prng } from './prng';

/** A request a client has sent under a key: resent as it is, byte for byte, on a retry. */
interface KeyedRequest {
  key: string;
  client: number;
  spec: RequestSpec;
  /** The targets a capture, void or refund resolved to when first sent. */
  transactionId?: string;
  /** The response the service kept for the key, once the client has seen one. */
  kept?: { status: number; body: unknown };
}

/**
 * The simulated world: one store, INSTANCES service instances in front of it, CLIENTS users (each with a
 * wallet; the last one's in EUR) and an admin. `apply` performs one action of a history; everything that
 * is not the action's direct effect happens later, when the scheduler lands store calls or fires timers.
 */
export class World {
  readonly clock: FakeClock;
  readonly gate = new Gate();
  readonly instances: Instance[] = [];
  readonly users: string[] = [];
  readonly wallets: string[] = [];
  readonly admin: string;
  readonly requests: KeyedRequest[] = [];
  /** Broken promises seen from the clients' side (a replay that differs, a request never answered). */
  readonly violations: string[] = [];
  private readonly crashLuck: Prng;
  private counter = 0;
  /** Requests sent and not yet answered, with the instance that has them. */
  private readonly inFlight = new Set<{ key: string; instance: Instance }>();
  /** Wallets of suspended users, with the balance they had when the suspension was answered. */
  private readonly frozen = new Map<string, Money>();
  private readonly queue: boolean[];

  constructor(
    readonly store: MemoryStore,
    seed: number,
  ) {
    this.clock = new FakeClock(seed);
    this.crashLuck = new Prng(seed ^ 0xc0ffee);
    const ids = new FakeClock(0, 0);
    this.admin = ids.newId().replace(/^0{8}/, 'aaaaaaaa');
    store.addUser(this.admin, 'ADMIN');
    for (let i = 0; i < CLIENTS; i++) {
      const user = ids.newId().replace(/^0{8}/, 'bbbbbbbb');
      const wallet = ids.newId().replace(/^0{8}/, 'cccccccc');
      store.addUser(user);
      store.addWallet(wallet, user, i === CLIENTS - 1 ? 'EUR' : 'USD');
      this.users.push(user);
      this.wallets.push(wallet);
    }
    // Instance 0 runs the combiner, instance 1 sends each movement alone: both paths meet in one store.
    this.queue = Array.from({ length: INSTANCES }, (_, i) => i % 2 === 0);
    for (let i = 0; i < INSTANCES; i++) this.instances.push(this.start(i));
  }

  private start(i: number): Instance {
    return new Instance(
      new GatedStore(this.store, this.gate, i),
      this.clock,
      simulationConfig(this.queue[i]),
    );
  }

  async apply(action: Action): Promise<void> {
    switch (action.t) {
      case 'send':
        return this.send(action.instance, this.keyed(action.client, action.spec));
      case 'retry': {
        const mine = this.requests.filter((r) => r.client === action.client);
        if (mine.length > 0) this.send(action.instance, mine[action.pick % mine.length]);
        return;
      }
      case 'land':
        if (this.gate.calls.length > 0)
          this.gate.complete(action.pick % this.gate.calls.length, action.fault);
        return;
      case 'timer':
        this.clock.fireNext();
        return;
      case 'expire':
        this.clock.advance(action.seconds * 1000);
        return this.expire(action.instance);
      case 'crash':
        this.gate.crash(action.instance, () => this.crashLuck.chance(0.5));
        this.instances[action.instance] = this.start(action.instance);
        return;
      case 'status': {
        const wallet = this.wallets[action.client];
        const was = this.store.users.get(this.users[action.client])?.status;
        this.store.setUserStatus(this.users[action.client], action.status);
        // From the moment a suspension is answered, no money leaves the account (contract, issue 21.1).
        if (action.status === 'ACTIVE') this.frozen.delete(wallet);
        else if (was === 'ACTIVE')
          this.frozen.set(wallet, this.store.wallets.get(wallet)?.balance ?? Money.ZERO);
        return;
      }
    }
  }

  private keyed(client: number, spec: RequestSpec): KeyedRequest {
    this.counter += 1;
    const request: KeyedRequest = { key: `k${this.counter}`, client, spec };
    if (spec.kind === 'capture' || spec.kind === 'void' || spec.kind === 'refund') {
      const wallet = this.wallets[client];
      const wanted = spec.kind === 'refund' ? 'COMPLETED' : 'PENDING';
      const candidates = [...this.store.transactions.values()]
        .filter((t) => t.type === 'TRANSFER' && t.status === wanted && t.destinationWalletId === wallet)
        .map((t) => t.id)
        .sort();
      request.transactionId = candidates.length > 0 ? candidates[spec.pick % candidates.length] : undefined;
    }
    this.requests.push(request);
    return request;
  }

  private send(i: number, r: KeyedRequest): void {
    const instance = this.instances[i];
    this.counter += 1;
    const idem = { key: r.key, requestId: `req-${this.counter}` };
    const callerId = r.spec.kind === 'deposit' ? this.admin : this.users[r.client];
    const caller: AuthUser = { id: callerId, email: 'sim@example.com', role: 'USER', iat: 0 };
    const s = r.spec;
    const metadata = { k: r.key };
    const svc = instance.transfers;
    const amount = (a: string) => Money.parse(a);
    let sent: Promise<Outcome>;
    switch (s.kind) {
      case 'transfer':
        sent = svc.transfer(caller, idem, {
          toWalletId: this.wallets[s.to],
          amount: amount(s.amount),
          currency: s.to === CLIENTS - 1 ? 'EUR' : 'USD',
          hold: s.hold,
          holdExpiresInSeconds: s.hold ? 600 : undefined,
          metadata,
        });
        break;
      case 'batch':
        sent = svc.batch(
          caller,
          idem,
          s.atomic,
          s.items.map((item, n) => ({
            toWalletId: this.wallets[item.to],
            amount: amount(item.amount),
            currency: 'USD',
            metadata: { k: r.key, i: String(n) },
          })),
        );
        break;
      case 'deposit':
        sent = svc.deposit(caller, idem, this.wallets[s.to], {
          amount: amount(s.amount),
          currency: s.to === CLIENTS - 1 ? 'EUR' : 'USD',
          metadata,
        });
        break;
      case 'withdrawal':
        sent = svc.withdraw(caller, idem, { amount: amount(s.amount), currency: 'USD', metadata });
        break;
      case 'refund':
        if (!r.transactionId) return;
        sent = svc.refund(caller, idem, r.transactionId, {
          amount: s.amount ? amount(s.amount) : undefined,
          metadata,
        });
        break;
      case 'capture':
        if (!r.transactionId) return;
        sent = svc.capture(caller, idem, r.transactionId);
        break;
      case 'void':
        if (!r.transactionId) return;
        sent = svc.void(caller, idem, r.transactionId);
        break;
    }
    const pending = { key: r.key, instance };
    this.inFlight.add(pending);
    const done = (outcome?: Outcome): void => {
      this.inFlight.delete(pending);
      // A crashed instance's answers never reach the client.
      if (outcome && this.instances[i] === instance) this.observe(r, outcome, idem.requestId);
    };
    sent.then(done, (err: unknown) => {
      done();
      // A lost connection or a time-out is a 503 the client retries; anything else would be a 500: a bug.
      if (!(err instanceof AppError) && !mapDatabaseError(err)) {
        this.violations.push(`key ${r.key}: a 500 (${err instanceof Error ? err.message : String(err)})`);
      }
    });
  }

  /** Checks an answer against what the key answered before: once kept, every answer is its replay. */
  private observe(r: KeyedRequest, outcome: Outcome, requestId: string): void {
    const { status, body } = responseOf(outcome, requestId);
    const isKept =
      outcome.kind !== 'refused' || (status === 422 && outcome.error.code !== 'IDEMPOTENCY_KEY_REUSED');
    if (!isKept) return;
    if (r.kept) {
      const same = outcome.kind === 'replayed' && status === r.kept.status && equalJson(body, r.kept.body);
      if (!same) {
        this.violations.push(
          `key ${r.key} answered ${status} ${JSON.stringify(body)} after ${r.kept.status} ${JSON.stringify(r.kept.body)}`,
        );
      }
      return;
    }
    r.kept = { status, body };
  }

  /** The expiry job of one instance: every hold past its expiry, one movement each. */
  private async expire(i: number): Promise<void> {
    const now = this.clock.now();
    const due = [...this.store.transactions.values()]
      .filter((t) => t.status === 'PENDING' && t.holdExpiresAt && t.holdExpiresAt.getTime() <= now)
      .map((t) => t.id)
      .sort();
    const instance = this.instances[i];
    for (const id of due) instance.transfers.expire(id).catch(() => undefined);
    return Promise.resolve();
  }

  /** A suspended account whose balance went down after its suspension. */
  moneyLeftFrozen(): string | undefined {
    for (const [wallet, balance] of this.frozen) {
      const now = this.store.wallets.get(wallet)?.balance ?? Money.ZERO;
      if (now.lt(balance))
        return `wallet ${wallet}: ${balance.toFixed4()} -> ${now.toFixed4()} while SUSPENDED`;
    }
    return undefined;
  }

  /** Requests still waiting for an answer at a live instance. */
  unanswered(): string[] {
    return [...this.inFlight].filter((p) => this.instances.includes(p.instance)).map((p) => p.key);
  }
}

function equalJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
