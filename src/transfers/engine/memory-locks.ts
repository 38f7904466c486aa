/**
 * The in-memory store's row locks on wallets (memory-store.ts), as the locked path takes them: a session
 * locks wallets in ascending id order and holds them until it ends; other writes on them wait.
 */
export class WalletLocks {
  private readonly locks = new Map<string, { owner: object; waiting: Array<() => void> }>();
  /** Sessions that have ended: a lock they were still waiting for is not taken. */
  private readonly ended = new WeakSet<object>();

  heldByAnother(id: string, owner: object | undefined): boolean {
    const lock = this.locks.get(id);
    return lock !== undefined && lock.owner !== owner;
  }

  /** Writes waiting for a wallet a session holds. */
  waiters(): number {
    return [...this.locks.values()].reduce((n, lock) => n + lock.waiting.length, 0);
  }

  async lock(owner: object, ids: string[]): Promise<void> {
    for (const id of [...new Set(ids)].sort()) {
      await this.waitFor(id, owner);
      if (this.ended.has(owner)) return;
      this.locks.set(id, { owner, waiting: this.locks.get(id)?.waiting ?? [] });
    }
  }

  /** Waits until no other session holds the wallet. */
  async waitFor(id: string, owner: object | undefined): Promise<void> {
    for (;;) {
      const lock = this.locks.get(id);
      if (!lock || lock.owner === owner) return;
      await new Promise<void>((resolve) => lock.waiting.push(resolve));
    }
  }

  /** The session ended (committed, rolled back, or its connection lost): its locks go, waiters wake. */
  end(owner: object): void {
    this.ended.add(owner);
    for (const [id, lock] of [...this.locks]) {
      if (lock.owner !== owner) continue;
      this.locks.delete(id);
      for (const wake of lock.waiting) wake();
    }
  }
}
