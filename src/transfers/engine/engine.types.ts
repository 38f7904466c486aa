import type { AppError } from '../../common/errors/error-codes';
import type { Money } from '../../common/money/money';
import type { OutboxEvent } from '../../events/outbox';
import type { LimitWindow, Period } from '../../wallets/limits/limit-windows';
import type { TxRecord } from '../transaction.record';

/**
 * The engine's vocabulary: what comes in (a Movement), what it reads (EngineState), what the rules decide
 * (a Decision), what it writes (a WritePlan) and what comes out (an Outcome). Everything here is data.
 */

export interface Caller {
  id: string;
}

/** One money movement, as the HTTP edge or a job asks for it. Amounts are already parsed and valid. */
export type Movement =
  | {
      kind: 'transfer';
      caller: Caller;
      toWalletId: string;
      amount: Money;
      currency: string;
      description?: string;
      hold?: boolean;
      holdExpiresInSeconds?: number;
      metadata?: Metadata;
    }
  | {
      kind: 'deposit';
      caller: Caller;
      walletId: string;
      amount: Money;
      currency: string;
      reference?: string;
      metadata?: Metadata;
    }
  | {
      kind: 'withdrawal';
      caller: Caller;
      amount: Money;
      currency: string;
      reference?: string;
      metadata?: Metadata;
    }
  | {
      kind: 'refund';
      caller: Caller;
      transactionId: string;
      amount?: Money;
      reason?: string;
      metadata?: Metadata;
    }
  | { kind: 'capture'; caller: Caller; transactionId: string; amount?: Money }
  | { kind: 'void'; caller: Caller; transactionId: string }
  | { kind: 'expiry'; transactionId: string }
  | { kind: 'batch'; caller: Caller; atomic: boolean; items: TransferItem[] };

/** One transfer of a batch request: always from the caller's wallet, never a hold. */
export interface TransferItem {
  toWalletId: string;
  amount: Money;
  currency: string;
  description?: string;
  metadata?: Metadata;
}

/** A client's own string keys on a movement (contract v1.1: at most 20, validated at the edge). */
export type Metadata = Record<string, string>;

/** What a money-moving request carries for idempotency: the caller's key and a hash of the request. */
export interface IdempotencyContext {
  key: string;
  /** sha256 of method, path and canonical body: the same key with another request is refused. */
  requestHash: string;
  requestId: string;
}

/** A movement with its idempotency context (none for the system's own movements, such as expiry). */
export interface MovementRequest {
  movement: Movement;
  idem?: IdempotencyContext;
}

/** A wallet as the engine reads it, with its owner's status, its limits, their usage and its monitors. */
export interface WalletState {
  id: string;
  userId: string;
  currency: string;
  balance: Money;
  held: Money;
  version: number;
  userStatus: string;
  /** The balance may go down to minus this (contract v1.2); available = balance - held + overdraft. */
  overdraft: Money;
  limits: LimitRule[];
  /**
   * Usage by usageKey(period, start): as read, the window the wallet's row keeps per limited period (its
   * latest, which may have ended); the rules add the current one when it begins.
   */
  usage: Map<string, Usage>;
  monitors: MonitorState[];
}

export type { LimitWindow, Period } from '../../wallets/limits/limit-windows';

export interface LimitRule {
  window: LimitWindow;
  maxAmount: Money | null;
  maxCount: number | null;
}

export interface Usage {
  amount: Money;
  count: number;
}

/** A window a wallet's row keeps: its start and what counts in it. */
export interface KeptWindow extends Usage {
  start: Date;
}

/** The window a wallet's row keeps per period (its latest), or null: none (no limit on that period). */
export type KeptWindows = Record<Period, KeptWindow | null>;

/** A balance monitor as the engine keeps it: `met` is what the last write left. */
export interface MonitorState {
  id: string;
  walletId: string;
  field: 'balance' | 'availableBalance';
  operator: 'lt' | 'lte' | 'gt' | 'gte';
  value: Money;
  description: string | null;
  met: boolean;
  createdAt: Date;
  lastTriggeredAt: Date | null;
}

/** A change of one window's usage: + at a spend or a hold's creation, - when a hold gives back. */
export interface UsageDelta {
  walletId: string;
  period: Period;
  start: Date;
  amount: Money;
  count: number;
}

/** A user as the database has it now (not as the token or a cache says). */
export interface UserState {
  status: string;
  role: string;
}

/** The response kept for an Idempotency-Key: replayed byte for byte for the life of the key. */
export interface StoredResponse {
  hash: string;
  status: number;
  body: unknown;
}

/** Everything the rules may look at, read in one round trip. */
export interface EngineState {
  wallets: Map<string, WalletState>;
  /** owner's user id -> wallet id */
  walletOfUser: Map<string, string>;
  users: Map<string, UserState>;
  transactions: Map<string, TxRecord>;
  /** keyId(caller, key) -> stored response */
  idempotency: Map<string, StoredResponse>;
}

/** What to read for a set of movements. */
export interface StateQuery {
  userIds: string[];
  walletIds: string[];
  transactionIds: string[];
  keys: Array<{ caller: string; key: string }>;
}

/** One wallet's change by one movement. */
export interface WalletDelta {
  walletId: string;
  balance: Money;
  held: Money;
  /** Refuse the write unless the wallet's owner is still ACTIVE (checked inside the write itself). */
  requireActive: boolean;
  /** The signed ledger amount, for changes of the settled balance. */
  ledger?: Money;
}

/** A PENDING transaction settled by a capture, void or expiry: applied only while it is still PENDING. */
export interface Settlement {
  id: string;
  status: 'COMPLETED' | 'FAILED';
  amount: Money;
  failureReason: string | null;
  at: Date;
}

/** The rules accepted the movement: these changes make it. */
export interface Accepted {
  kind: 'accepted';
  /** The transaction as it stands after the movement. */
  transaction: TxRecord;
  /** A new transaction row (transfer, hold, deposit, withdrawal), or a settlement of an existing one. */
  created: boolean;
  changes: WalletDelta[];
  settle?: Settlement;
  /** A refund: the original transfer's refunded amount grows by `amount`. */
  refund?: { originalId: string; amount: Money };
  /** What the movement adds to (or gives back to) its sender's limit windows. */
  usage?: UsageDelta[];
  /** Users who must still be ACTIVE when the write runs, and those who must still be admins. */
  mustBeActive: string[];
  mustBeAdmin: string[];
}

/** The rules refused the movement. `store`: keep the refusal with the key; `record`: a FAILED transaction. */
export interface Refused {
  kind: 'refused';
  error: AppError;
  store: boolean;
  record?: TxRecord;
}

export type Decision = Accepted | Refused;

export interface LedgerLine {
  walletId: string;
  transactionId: string;
  amount: Money;
  balanceAfter: Money;
}

export interface IdempotencyRecord {
  caller: string;
  key: string;
  hash: string;
  status: number;
  body: unknown;
  transactionId: string | null;
}

/** The net result of one or more movements: ONE statement, one commit, or nothing at all. */
export interface WritePlan {
  /**
   * Net change per distinct wallet, each under a check of the version the rules saw, with the windows its
   * row keeps as they end (the version check makes them exact: every other writer of them bumps it).
   */
  wallets: Array<{
    id: string;
    version: number;
    balance: Money;
    held: Money;
    requireActive: boolean;
    windows: KeptWindows;
  }>;
  inserts: TxRecord[];
  settles: Settlement[];
  /** Transfers whose refunded amount grows: checked against the amount the rules saw. */
  refunds: Array<{ id: string; expected: Money; next: Money }>;
  ledger: LedgerLine[];
  idempotency: IdempotencyRecord[];
  mustBeActive: string[];
  mustBeAdmin: string[];
  /** Windows a wallet's row kept that ended with this write (its next one began): stored as they end. */
  ended: Array<KeptWindow & { walletId: string; period: Period }>;
  /** Give-backs to ended windows the rules did not hold: applied to the stored window where it exists. */
  giveBacks: UsageDelta[];
  /** Monitors whose `met` changed, as they end (their wallets are version-checked above). */
  monitors: Array<{ id: string; met: boolean; lastTriggeredAt: Date | null }>;
  /** One event per change (contract v1.1), written by the same statement. */
  events: OutboxEvent[];
  now: Date;
}

/** What the write did: committed, or nothing because a check failed (and which). */
export type WriteResult =
  { kind: 'committed' } | { kind: 'conflict'; reason: ConflictReason; walletIds: string[] };

/** Why an attempt must run again: versions moved, a status or hold changed, a key was taken, a deadlock. */
export type ConflictReason = 'version' | 'settled' | 'actor' | 'duplicate' | 'deadlock' | 'serialization';

/** What a movement came to. The HTTP edge turns it into a status and body (movement-response.ts). */
export type Outcome =
  | { kind: 'applied'; transaction: TxRecord; created: boolean }
  | { kind: 'refused'; error: AppError }
  | { kind: 'replayed'; response: StoredResponse }
  /** A batch request: each item's own outcome (applied or refused), in order. */
  | { kind: 'batch'; atomic: boolean; items: Outcome[] };
