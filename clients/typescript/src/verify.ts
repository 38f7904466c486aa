/**
 * Checking the verifiable ledger on your own side (docs/LEDGER.md), with nothing but Web Crypto (Node 20+,
 * current browsers): RFC 8785 canonical JSON, RFC 9162 inclusion and consistency proofs, and C2SP
 * tlog-checkpoint notes signed per C2SP signed-note with Ed25519, keys in Go's sumdb/note format.
 * Every check throws a LedgerVerificationError saying what failed; none returns false.
 */

/** A checkpoint whose signature checked out. */
export interface VerifiedCheckpoint {
  origin: string;
  treeSize: number;
  /** Standard base64, as the API writes hashes. */
  rootHash: string;
}

/** The event fields a leaf is made of: the event exactly as GET /api/v1/events answers it. */
export type LedgerEvent = { sequence: number } & Record<string, unknown>;

export interface InclusionProof {
  sequence?: number;
  leafIndex: number;
  treeSize: number;
  leafHash?: string;
  auditPath: string[] | null;
}

export interface ConsistencyProof {
  from: number;
  to: number;
  proof: string[] | null;
}

export class LedgerVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerVerificationError';
  }
}

const fail = (why: string): never => {
  throw new LedgerVerificationError(why);
};

const subtle = () => globalThis.crypto.subtle;

/** RFC 8785 (JCS) of a value that came from JSON: members sorted by UTF-16 code units, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('RFC 8785 has no form for NaN or Infinity');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`);
    return `{${members.join(',')}}`;
  }
  return fail(`RFC 8785 has no form for a ${typeof value}`);
}

export function fromBase64(text: string): Uint8Array {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text))
    fail('not standard base64');
  const bin = atob(text);
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
}

export function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await subtle().digest('SHA-256', all));
}

const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 9162 leaf hash of an event: SHA-256(0x00 || RFC 8785 bytes of its JSON). */
export async function leafHash(event: LedgerEvent): Promise<Uint8Array> {
  return sha256(new Uint8Array([0]), new TextEncoder().encode(canonicalJson(event)));
}

const node = (left: Uint8Array, right: Uint8Array): Promise<Uint8Array> =>
  sha256(new Uint8Array([1]), left, right);

function hash32(text: string, what: string): Uint8Array {
  const h = fromBase64(text);
  if (h.length !== 32) fail(`${what} is not a 32-byte hash`);
  return h;
}

function size(n: unknown, what: string): bigint {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return fail(`${what} is not a whole number`);
  return BigInt(n);
}

/**
 * RFC 9162 2.1.3.2: whether `leafHashB64` is leaf `leafIndex` of the tree of `treeSize` leaves with root
 * `rootHash`, by its audit path. (verifyInclusion computes the leaf hash from the event itself.)
 */
export async function verifyInclusionOfLeafHash(
  leafHashB64: string,
  proof: InclusionProof,
  rootHash: string,
): Promise<void> {
  const index = size(proof.leafIndex, 'leafIndex');
  const treeSize = size(proof.treeSize, 'treeSize');
  if (index >= treeSize) fail(`leaf ${index} is not in a tree of ${treeSize}`);
  const path = (proof.auditPath ?? []).map((p) => hash32(p, 'an audit path entry'));
  let fn = index;
  let sn = treeSize - 1n;
  let r = hash32(leafHashB64, 'the leaf hash');
  for (const p of path) {
    if (sn === 0n) fail('the audit path is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await node(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('the audit path is too short');
  if (!equal(r, hash32(rootHash, 'the root'))) fail('the audit path does not lead to the root');
}

/** Checks that `event` (as GET /events gave it) is in the tree whose root is `rootHash`, by `proof`. */
export async function verifyInclusion(
  event: LedgerEvent,
  proof: InclusionProof,
  rootHash: string,
): Promise<void> {
  if (proof.leafIndex !== event.sequence - 1)
    fail(`the proof is for leaf ${proof.leafIndex}, not event ${event.sequence}`);
  const leaf = toBase64(await leafHash(event));
  if (proof.leafHash !== undefined && proof.leafHash !== leaf)
    fail('the proof is for another leaf than this event');
  await verifyInclusionOfLeafHash(leaf, proof, rootHash);
}

/**
 * RFC 9162 2.1.4.2: checks that the tree of `proof.from` leaves with root `oldRoot` is a prefix of the tree
 * of `proof.to` leaves with root `newRoot`: nothing signed before was rewritten.
 */
export async function verifyConsistency(
  proof: ConsistencyProof,
  oldRoot: string,
  newRoot: string,
): Promise<void> {
  const first = size(proof.from, 'from');
  const second = size(proof.to, 'to');
  const path = (proof.proof ?? []).map((p) => hash32(p, 'a proof entry'));
  const oldHash = hash32(oldRoot, 'the old root');
  const newHash = hash32(newRoot, 'the new root');
  // The API proves from 1 leaf on (anything extends the empty tree: there is nothing to check).
  if (first === 0n) fail('from must be at least 1');
  if (first > second) fail('the old tree is larger than the new one');
  if (first === second) {
    if (path.length > 0) fail('trees of one size need an empty proof');
    if (!equal(oldHash, newHash)) fail('two trees of one size with different roots');
    return;
  }
  if (path.length === 0) fail('the proof is empty');
  if ((first & (first - 1n)) === 0n) path.unshift(oldHash);
  let fn = first - 1n;
  let sn = second - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) fail('the proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await node(c, fr);
      sr = await node(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await node(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('the proof is too short');
  if (!equal(fr, oldHash)) fail('the proof does not lead to the old root');
  if (!equal(sr, newHash)) fail('the proof does not lead to the new root');
}
