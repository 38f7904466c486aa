/**
 * Runs tasks one at a time per key, inside this process: a task waits for every earlier task that shares
 * one of its keys. Used by the transfer engine so that transfers touching the same hot wallet queue here
 * instead of colliding on its version in the database, where each collision costs a rollback and a retry.
 * The database's version check stays the guarantee; this only makes conflicts rare.
 *
 * Deadlock-free: a task enqueues itself behind the current tails of all its keys synchronously, so it can
 * only ever wait for tasks enqueued before it.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(keys: string[], task: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    const previous = unique.map((k) => this.tails.get(k)).filter((p): p is Promise<void> => p !== undefined);
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    for (const k of unique) this.tails.set(k, mine);
    try {
      await Promise.all(previous);
      return await task();
    } finally {
      release();
      for (const k of unique) if (this.tails.get(k) === mine) this.tails.delete(k);
    }
  }

  /** Keys with a task running or waiting (for tests and metrics). */
  get size(): number {
    return this.tails.size;
  }
}
