import { createHash } from 'node:crypto';
import type { MemoryStore } from '../transfers/engine/memory-store';
import { type Action, nextAction } from './actions';
import { settle } from './gated-store';
import { Invariants } from './invariants';
import { type PlantedBug, storeWith } from './planted-bugs';
import { Prng } from './prng';
import { World } from './world';

export interface RunResult {
  seed: number;
  /** Steps run (all of them, or up to and including the one that broke something). */
  steps: number;
  violation?: string;
  /** sha256 of the final state, in short. */
  hash: string;
  history: Action[];
  /** Store calls landed, transactions and events committed: how much happened, for the report. */
  landed: number;
  transactions: number;
  events: number;
}

/** The history a seed makes: the scheduler's choices, drawn before the run from the seed alone. */
export function historyOf(seed: number, steps: number): Action[] {
  const prng = new Prng(seed);
  return Array.from({ length: steps }, () => nextAction(prng));
}

/**
 * Runs a history on a fresh world and checks the invariants after every step; then lets everything in
 * flight finish, without faults, and checks that every request at a live instance got an answer.
 */
export async function runHistory(seed: number, history: Action[], bug?: PlantedBug): Promise<RunResult> {
  const world = new World(storeWith(bug), seed);
  let landed = 0;
  const invariants = new Invariants(world.store);
  const broken = (): string | undefined =>
    world.violations[0] ?? world.moneyLeftFrozen() ?? invariants.check();
  for (const [i, action] of history.entries()) {
    if (action.t === 'land' && world.gate.calls.length > 0) landed++;
    await world.apply(action);
    await settle();
    const violation = broken();
    if (violation) return result(seed, world.store, history.slice(0, i + 1), landed, violation);
  }
  for (let n = 0; n < 100_000; n++) {
    if (world.gate.calls.length > 0) {
      world.gate.complete(0);
      landed++;
    } else if (!world.clock.fireNext()) break;
    await settle();
    const violation = broken();
    if (violation) return result(seed, world.store, history, landed, violation);
  }
  const stuck = world.unanswered();
  const violation = stuck.length > 0 ? `requests never answered: ${stuck.join(', ')}` : undefined;
  return result(seed, world.store, history, landed, violation);
}

function result(
  seed: number,
  store: MemoryStore,
  history: Action[],
  landed: number,
  violation?: string,
): RunResult {
  const hash = stateHash(store);
  const counts = { transactions: store.transactions.size, events: store.events.length };
  return { seed, steps: history.length, violation, hash, history, landed, ...counts };
}

/**
 * The shortest failing history it can find: removes chunks of steps, halving the chunk size, while the
 * run still breaks something (ddmin, within a budget of runs).
 */
export async function shrink(
  seed: number,
  history: Action[],
  bug?: PlantedBug,
  budget = 400,
): Promise<Action[]> {
  let best = history;
  let runs = 0;
  for (let size = Math.max(1, Math.floor(best.length / 2)); size >= 1 && runs < budget;) {
    let removed = false;
    for (let at = 0; at < best.length && runs < budget;) {
      const candidate = [...best.slice(0, at), ...best.slice(at + size)];
      runs++;
      const r = await runHistory(seed, candidate, bug);
      if (r.violation) {
        best = r.history;
        removed = true;
      } else at += size;
    }
    if (!removed) size = Math.floor(size / 2);
  }
  return best;
}

/** A hash of what the store holds (event ids left out: the outbox draws them at random). */
export function stateHash(store: MemoryStore): string {
  const byId = <T extends { id: string }>(xs: Iterable<T>) => [...xs].sort((a, b) => (a.id < b.id ? -1 : 1));
  const state = {
    wallets: byId(store.wallets.values()),
    transactions: byId(store.transactions.values()),
    ledger: store.ledger,
    keys: [...store.keys.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
    events: store.events.map(({ id: _id, ...e }) => e),
  };
  return createHash('sha256').update(JSON.stringify(state)).digest('hex').slice(0, 16);
}

export function describeAction(a: Action): string {
  return JSON.stringify(a);
}
