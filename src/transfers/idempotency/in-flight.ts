import { AppError } from '../../common/errors/error-codes';
import { keyId } from '../engine/stored-response';

/**
 * Idempotency keys whose first request is running in this instance: a second request with the same key
 * is 409 IDEMPOTENCY_IN_PROGRESS instead of waiting. Across instances the database is the guard (the
 * key's primary key: the loser replays the winner's stored response).
 */
export class InFlightKeys {
  private readonly running = new Set<string>();

  has(caller: string, key: string): boolean {
    return this.running.has(keyId(caller, key));
  }

  async run<T>(caller: string, key: string, work: () => Promise<T>): Promise<T> {
    const id = keyId(caller, key);
    if (this.running.has(id)) {
      throw new AppError('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still running', {
        retryAfter: 1,
      });
    }
    this.running.add(id);
    try {
      return await work();
    } finally {
      this.running.delete(id);
    }
  }
}
