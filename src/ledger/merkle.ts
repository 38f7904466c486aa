import { createHash, hash } from 'node:crypto';

/**
 * RFC 9162 section 2.1 over leaves 0..n-1, with the hashes of complete (perfect) subtrees stored by
 * (level, index): node (k, i) is the root of leaves [i*2^k, (i+1)*2^k). Every range the RFC's recursion
 * meets is a run of such nodes (the binary digits of its size, largest first), so any root, audit path or
 * consistency proof is a fold over O(log n) stored nodes: nothing here ever reads a leaf twice.
 */
export interface NodeId {
  level: number;
  index: number;
}

/** A node with its hash. */
export interface StoredNode extends NodeId {
  hash: Buffer;
}

/** A range of leaves [lo, hi). */
export type LeafRange = readonly [number, number];

/** SHA-256 of nothing: the root of the empty tree. */
export const EMPTY_ROOT = createHash('sha256').digest();

/**
 * The hashes are one-shot `crypto.hash` calls over one buffer or string (a Hash object per call, with its
 * updates, cost the appender twice as much per leaf).
 */
export function leafHash(bytes: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(bytes.length + 1);
  input[0] = 0;
  input.set(bytes, 1);
  return sha256(input);
}

/** The leaf hash of a leaf given as text: SHA-256(0x00 || its UTF-8), without a buffer in between. */
export function leafHashOfText(text: string): Buffer {
  return sha256(`\u0000${text}`);
}

/** Reused by interiorHash for the usual two 32-byte hashes (one call at a time: JavaScript runs one). */
const PAIR = Buffer.alloc(65, 1);

export function interiorHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length === 32 && right.length === 32) {
    PAIR.set(left, 1);
    PAIR.set(right, 33);
    return sha256(PAIR);
  }
  const input = Buffer.allocUnsafe(1 + left.length + right.length);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

function sha256(input: Buffer | string): Buffer {
  return hash('sha256', input, 'buffer');
}

/** The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree of n leaves. */
export function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The perfect subtrees whose fold is MTH(D[lo:hi]), leftmost (largest) first. Ranges built by the RFC's
 * recursion are aligned (lo is a multiple of the size of the first piece), which this checks: a
 * misaligned range is a bug in the caller, not a tree.
 */
export function decompose([lo, hi]: LeafRange): NodeId[] {
  const out: NodeId[] = [];
  let at = lo;
  while (at < hi) {
    let level = Math.floor(Math.log2(hi - at));
    while (2 ** level > hi - at) level--;
    while (2 ** (level + 1) <= hi - at) level++;
    const size = 2 ** level;
    if (at % size !== 0) throw new Error(`range [${lo}, ${hi}) is not aligned at ${at}`);
    out.push({ level, index: at / size });
    at += size;
  }
  return out;
}

/** MTH of a range from the hashes of its pieces, in `decompose` order: H(p1, H(p2, ... pk)). */
export function fold(pieces: Buffer[]): Buffer {
  if (pieces.length === 0) return EMPTY_ROOT;
  let acc = pieces[pieces.length - 1];
  for (let i = pieces.length - 2; i >= 0; i--) acc = interiorHash(pieces[i], acc);
  return acc;
}

/** The ranges whose MTH make up PATH(m, D[0:n]) (RFC 9162 2.1.3.1), in proof order (nearest the leaf first). */
export function inclusionRanges(m: number, n: number): LeafRange[] {
  const out: LeafRange[] = [];
  let lo = 0;
  let hi = n;
  while (hi - lo > 1) {
    const k = split(hi - lo);
    if (m < lo + k) {
      out.push([lo + k, hi]);
      hi = lo + k;
    } else {
      out.push([lo, lo + k]);
      lo += k;
    }
  }
  return out.reverse();
}

/** The ranges whose MTH make up PROOF(m, D[0:n]) (RFC 9162 2.1.4.1, 0 < m <= n), in proof order. */
export function consistencyRanges(m: number, n: number): LeafRange[] {
  const outer: LeafRange[] = [];
  let lo = 0;
  let hi = n;
  let whole = true; // SUBPROOF's b: the subtree is the whole old tree, whose root the verifier has
  for (;;) {
    if (m - lo === hi - lo) {
      if (!whole) outer.push([lo, hi]);
      break;
    }
    const k = split(hi - lo);
    if (m - lo <= k) {
      outer.push([lo + k, hi]);
      hi = lo + k;
    } else {
      outer.push([lo, lo + k]);
      lo += k;
      whole = false;
    }
  }
  return outer.reverse();
}

/**
 * Appends leaf hashes to a tree of `size` leaves whose right edge (`decompose([0, size])`, with hashes) is
 * `frontier`. Returns every node completed on the way (each leaf, and each perfect subtree it closes) and
 * the new frontier: a binary counter, two nodes per leaf on average.
 */
export function append(
  frontier: StoredNode[],
  size: number,
  leaves: Buffer[],
): { created: StoredNode[]; frontier: StoredNode[] } {
  const edge = [...frontier];
  const created: StoredNode[] = [];
  leaves.forEach((hash, i) => {
    let node: StoredNode = { level: 0, index: size + i, hash };
    created.push(node);
    while (edge.length > 0 && edge[edge.length - 1].level === node.level) {
      const left = edge.pop() as StoredNode;
      node = { level: node.level + 1, index: left.index / 2, hash: interiorHash(left.hash, node.hash) };
      created.push(node);
    }
    edge.push(node);
  });
  return { created, frontier: edge };
}

/** A map key for a node. */
export function nodeKey(n: NodeId): string {
  return `${n.level}:${n.index}`;
}
