import type { OutboxEvent } from '../events/outbox';
import type { IdempotencyRecord, WritePlan, WriteResult } from '../transfers/engine/engine.types';
import { MemoryStore } from '../transfers/engine/memory-store';

/**
 * Bugs planted on purpose, each in a store variant the simulator can run (`--bug name`): its tests prove
 * that every one is caught (test/unit/simulator.spec.ts). Each breaks one promise the PostgreSQL store
 * keeps (engine.port.ts), the way a careless edit of the write statement would.
 */
export const PLANTED_BUGS = {
  /** The write no longer checks the versions the rules saw: a lost update. */
  'skip-version-check': class extends MemoryStore {
    protected override staleWallets(plan: WritePlan): string[] {
      return super.staleWallets({
        ...plan,
        wallets: plan.wallets.map((w) => ({ ...w, version: this.wallets.get(w.id)?.version ?? w.version })),
      });
    }
  },
  /** The write no longer checks that a debited wallet's owner is still ACTIVE. */
  'skip-active-check': class extends MemoryStore {
    protected override staleWallets(plan: WritePlan): string[] {
      return super.staleWallets({
        ...plan,
        wallets: plan.wallets.map((w) => ({ ...w, requireActive: false })),
      });
    }
  },
  /** A refusal's response is not kept with its key: a retry is decided afresh. */
  'lost-refusal': class extends MemoryStore {
    protected override keep(record: IdempotencyRecord, now: Date): void {
      if (record.status < 400) super.keep(record, now);
    }
  },
  /** A key already stored does not stop a second write: two requests under one key both apply. */
  'double-apply': class extends MemoryStore {
    protected override keyTaken(): boolean {
      return false;
    }
  },
  /** The settlement of a hold writes no event. */
  'lost-event': class extends MemoryStore {
    protected override apply(plan: WritePlan): void {
      super.apply(plan.settles.length > 0 ? { ...plan, events: plan.events.slice(1) } : plan);
    }
  },
  /** Event numbers drawn before the checks, as a database sequence would be: a conflict leaves a gap. */
  'sequence-gap': class extends MemoryStore {
    private drawn = 0;
    protected override conflictOf(plan: WritePlan): WriteResult | undefined {
      const start = this.drawn;
      this.drawn += plan.events.length;
      const conflict = super.conflictOf(plan);
      if (!conflict) this.drawn = start;
      return conflict;
    }
    protected override append(events: OutboxEvent[], now: Date): void {
      for (const e of events) this.events.push({ ...e, sequence: ++this.drawn, createdAt: now });
    }
  },
} satisfies Record<string, typeof MemoryStore>;

export type PlantedBug = keyof typeof PLANTED_BUGS;

export function storeWith(bug?: PlantedBug): MemoryStore {
  return bug ? new PLANTED_BUGS[bug]() : new MemoryStore();
}
