/**
 * Every machine code a response can carry, with its HTTP status and title. The codes are part of the
 * public contract (shared/API.md): add freely, never rename.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: 'The request is invalid' },
  MALFORMED_JSON: { status: 400, title: 'The body is not valid JSON' },
  IDEMPOTENCY_KEY_MISSING: { status: 400, title: 'An Idempotency-Key header is required' },
  IDEMPOTENCY_KEY_INVALID: { status: 400, title: 'The Idempotency-Key header is malformed' },
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  WEBHOOK_URL_REFUSED: { status: 400, title: 'The webhook URL is not allowed' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  INVALID_CREDENTIALS: { status: 401, title: 'Invalid email or password' },
  FORBIDDEN: { status: 403, title: 'Not allowed' },
  ACCOUNT_INACTIVE: { status: 403, title: 'The account is not active' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  USER_NOT_FOUND: { status: 404, title: 'User not found' },
  WALLET_NOT_FOUND: { status: 404, title: 'Wallet not found' },
  TRANSACTION_NOT_FOUND: { status: 404, title: 'Transaction not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  EMAIL_TAKEN: { status: 409, title: 'The email is already registered' },
  WALLET_EXISTS: { status: 409, title: 'The user already has a wallet' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, title: 'A request with this Idempotency-Key is still running' },
  CONCURRENCY_CONFLICT: { status: 409, title: 'The wallets kept changing; retry' },
  TRANSFER_NOT_PENDING: { status: 409, title: 'The transfer is no longer pending' },
  TRANSFER_NOT_REFUNDABLE: { status: 409, title: 'Only a completed transfer can be refunded' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'The Idempotency-Key was used for a different request' },
  SAME_WALLET: { status: 422, title: 'Cannot transfer to the same wallet' },
  CURRENCY_MISMATCH: { status: 422, title: 'The currency does not match the wallet' },
  INSUFFICIENT_FUNDS: { status: 422, title: 'Not enough available funds' },
  ACCOUNT_INACTIVE_PARTY: { status: 422, title: 'A party to the transfer is not active' },
  BALANCE_LIMIT_EXCEEDED: { status: 422, title: 'The balance would exceed the maximum' },
  LIMIT_EXCEEDED: { status: 422, title: 'A spending limit of the wallet would be exceeded' },
  AMOUNT_EXCEEDS_HOLD: { status: 422, title: 'The amount exceeds what is held' },
  REFUND_EXCEEDS_AMOUNT: { status: 422, title: 'Refunds would exceed the transfer amount' },
  BATCH_REFUSED: { status: 422, title: 'An item of the atomic batch was refused; nothing moved' },
  NOT_IN_TREE: { status: 422, title: 'Not in the tree of that size' },
  CONSTRAINT_VIOLATION: { status: 422, title: 'The request breaks a data rule' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'A dependency is unavailable; retry later' },
  REQUEST_TIMEOUT: { status: 503, title: 'The request timed out; retry later' },
  INTERNAL_ERROR: { status: 500, title: 'Internal server error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  field: string;
  message: string;
}

export interface AppErrorExtras {
  /** Field problems, for validation failures. */
  errors?: FieldError[];
  /** Seconds, sent as the Retry-After header. */
  retryAfter?: number;
  /** Extra members of the problem body (e.g. `transactionId` of a recorded refusal). */
  fields?: Record<string, unknown>;
}

/**
 * A refusal the service means to give: carries a stable code and is turned into an RFC 9457 response
 * by the problem-details filter, the only place that knows about HTTP.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extras: AppErrorExtras = {},
  ) {
    super(`${code}: ${detail}`);
    this.name = 'AppError';
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  /** The code as the contract spells it (an inactive transfer party is ACCOUNT_INACTIVE with 422). */
  get publicCode(): string {
    return this.code === 'ACCOUNT_INACTIVE_PARTY' ? 'ACCOUNT_INACTIVE' : this.code;
  }
}
