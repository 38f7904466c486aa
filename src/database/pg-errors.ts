import { AppError } from '../common/errors/error-codes';

/** SQLSTATEs whose meaning is "try again": retried by the transfer engine, 503/409 at the edge. */
export const SERIALIZATION_FAILURE = '40001';
export const DEADLOCK_DETECTED = '40P01';
export const LOCK_NOT_AVAILABLE = '55P03';
export const QUERY_CANCELED = '57014';
export const UNIQUE_VIOLATION = '23505';
export const CHECK_VIOLATION = '23514';
/** A write reached a server that is read-only: a standby, or a primary being demoted (switchover). */
export const READ_ONLY_TRANSACTION = '25006';

export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The constraint a failed statement named (unique, check or foreign key), from the driver's error fields. */
export function constraintName(error: unknown): string | undefined {
  const e = error as { constraint?: unknown; driverError?: { constraint?: unknown } } | null;
  const name = e?.driverError?.constraint ?? e?.constraint;
  return typeof name === 'string' ? name : undefined;
}

const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

export function isConnectionFailure(error: unknown): boolean {
  const code = sqlState(error);
  if (code && (CONNECTION_ERRNOS.has(code) || code.startsWith('08') || code.startsWith('57P'))) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not established|terminating connection|the database system is (starting up|shutting down|in recovery)|Cannot use a pool after calling end/i.test(
    message,
  );
}

/**
 * Maps database failures that are conditions, not bugs, to the contract: an unreachable or restarting
 * database and timeouts to 503 with Retry-After, lock waits to 503, check violations to 422.
 * Returns undefined for anything else (a real bug: 500).
 */
export function mapDatabaseError(error: unknown): AppError | undefined {
  const code = sqlState(error);
  if (code === LOCK_NOT_AVAILABLE)
    return new AppError('SERVICE_UNAVAILABLE', 'A wallet is busy; retry shortly', { retryAfter: 1 });
  if (code === QUERY_CANCELED)
    return new AppError('REQUEST_TIMEOUT', 'The database did not answer in time', { retryAfter: 1 });
  if (code === DEADLOCK_DETECTED || code === SERIALIZATION_FAILURE)
    return new AppError('CONCURRENCY_CONFLICT', 'The request conflicted with another; retry', {
      retryAfter: 1,
    });
  if (code === CHECK_VIOLATION)
    return new AppError('CONSTRAINT_VIOLATION', 'The request would break a data rule');
  if (code === '53300' || code === READ_ONLY_TRANSACTION || isConnectionFailure(error))
    return new AppError('SERVICE_UNAVAILABLE', 'The database is unavailable; retry shortly', {
      retryAfter: 2,
    });
  return undefined;
}
