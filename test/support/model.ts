/**
 * Helpers for model-based tests: exact money (BigInt ten-thousandths, never JS numbers) and the search for
 * a serial order that explains what concurrent requests did to one wallet.
 */

/** Ten-thousandths as the API writes money: 12345n -> "1.2345". */
export function text(units: bigint): string {
  const sign = units < 0n ? '-' : '';
  const s = (units < 0n ? -units : units).toString().padStart(5, '0');
  return `${sign}${BigInt(s.slice(0, -4))}.${s.slice(-4)}`;
}

/** "1.2345" (or "-1.2345", or "1.2") -> 12345n, exactly. */
export function units(money: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,4}))?$/.exec(money);
  if (!m) throw new Error(`not an amount: ${JSON.stringify(money)}`);
  const value = BigInt(m[2]) * 10000n + BigInt((m[3] ?? '').padEnd(4, '0'));
  return m[1] ? -value : value;
}

/** One change of a wallet: deltas of its balance and held amount, and the available funds it needs first. */
export interface WalletStep {
  label: string;
  balance: bigint;
  held: bigint;
  /** The wallet's available balance (balance - held) just before this step must be at least this. */
  needs?: bigint;
}

export interface WalletSerialization {
  /** Some order explains every step: each one allowed where it stands, no state ever invalid. */
  ok: boolean;
  /** The lowest available balance at any point of any such order (for judging refusals). */
  minAvailable: bigint;
}

/**
 * Is there a serial order of one wallet's steps in which every step was allowed? `fixed` steps keep their
 * order (the ledger's, which is the order they committed); each `floating` step (a hold or a void, which
 * leaves no ledger line) may stand anywhere among them. Every state on the way must have
 * 0 <= held <= balance. Exhaustive over (fixed steps done, set of floating steps done), memoised: fine for
 * the few floating steps a batch puts on one wallet.
 */
export function serializeWallet(
  start: { balance: bigint; held: bigint },
  fixed: WalletStep[],
  floating: WalletStep[],
): WalletSerialization {
  if (floating.length > 16) throw new Error(`too many floating steps on one wallet: ${floating.length}`);
  const full = (1 << floating.length) - 1;
  const prefix: Array<{ balance: bigint; held: bigint }> = [{ balance: 0n, held: 0n }];
  for (const s of fixed) {
    const p = prefix[prefix.length - 1];
    prefix.push({ balance: p.balance + s.balance, held: p.held + s.held });
  }
  const state = (i: number, mask: number) => {
    let balance = start.balance + prefix[i].balance;
    let held = start.held + prefix[i].held;
    floating.forEach((s, j) => {
      if (mask & (1 << j)) {
        balance += s.balance;
        held += s.held;
      }
    });
    return { balance, held };
  };
  const valid = (s: { balance: bigint; held: bigint }) => s.held >= 0n && s.held <= s.balance;
  const allowed = (i: number, mask: number, step: WalletStep) => {
    const before = state(i, mask);
    return step.needs === undefined || before.balance - before.held >= step.needs;
  };
  const next = (i: number, mask: number): Array<[number, number]> => {
    const out: Array<[number, number]> = [];
    if (i < fixed.length && allowed(i, mask, fixed[i])) out.push([i + 1, mask]);
    floating.forEach((s, j) => {
      if (!(mask & (1 << j)) && allowed(i, mask, s)) out.push([i, mask | (1 << j)]);
    });
    return out.filter(([ni, nm]) => valid(state(ni, nm)));
  };
  const finishes = new Map<number, boolean>();
  const canFinish = (i: number, mask: number): boolean => {
    const id = i * (full + 1) + mask;
    const known = finishes.get(id);
    if (known !== undefined) return known;
    const result =
      (i === fixed.length && mask === full) || next(i, mask).some(([ni, nm]) => canFinish(ni, nm));
    finishes.set(id, result);
    return result;
  };
  const first = state(0, 0);
  if (!valid(first) || !canFinish(0, 0)) return { ok: false, minAvailable: first.balance - first.held };
  // Walk only the states that lie on some complete order.
  let minAvailable = first.balance - first.held;
  const seen = new Set<number>([0]);
  const todo: Array<[number, number]> = [[0, 0]];
  while (todo.length > 0) {
    const [i, mask] = todo.pop() as [number, number];
    const s = state(i, mask);
    if (s.balance - s.held < minAvailable) minAvailable = s.balance - s.held;
    for (const [ni, nm] of next(i, mask)) {
      const id = ni * (full + 1) + nm;
      if (!seen.has(id) && canFinish(ni, nm)) {
        seen.add(id);
        todo.push([ni, nm]);
      }
    }
  }
  return { ok: true, minAvailable };
}

/**
 * One global order of movements that agrees with every wallet's own order (its ledger's), or the
 * movements caught in a cycle when there is none: then no serial execution could have produced them.
 */
export function mergeOrders(chains: string[][]): { order: string[]; cycle: string[] } {
  const nodes = new Set(chains.flat());
  const after = new Map<string, Set<string>>([...nodes].map((n) => [n, new Set<string>()]));
  const indegree = new Map<string, number>([...nodes].map((n) => [n, 0]));
  for (const chain of chains) {
    for (let i = 1; i < chain.length; i++) {
      const edges = after.get(chain[i - 1]) as Set<string>;
      if (chain[i] !== chain[i - 1] && !edges.has(chain[i])) {
        edges.add(chain[i]);
        indegree.set(chain[i], (indegree.get(chain[i]) as number) + 1);
      }
    }
  }
  const ready = [...nodes].filter((n) => indegree.get(n) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const n = ready.pop() as string;
    order.push(n);
    for (const m of after.get(n) as Set<string>) {
      indegree.set(m, (indegree.get(m) as number) - 1);
      if (indegree.get(m) === 0) ready.push(m);
    }
  }
  return { order, cycle: [...nodes].filter((n) => (indegree.get(n) as number) > 0) };
}
