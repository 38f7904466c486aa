/**
 * C2SP signed-note (Ed25519) and C2SP tlog-checkpoint, following Go's golang.org/x/mod/sumdb/note: the
 * verifier key `<name>+<key id, 8 hex>+<base64(0x01 || 32-byte public key)>`, the key id being the first 4
 * bytes of SHA-256(name || 0x0A || 0x01 || public key), and signature lines `— <name> <base64(key id ||
 * signature)>` after an empty line.
 */
import { fromBase64, LedgerVerificationError, type VerifiedCheckpoint, toBase64 } from './verify';

const fail = (why: string): never => {
  throw new LedgerVerificationError(why);
};

interface VerifierKey {
  name: string;
  keyId: string;
  publicKey: Uint8Array;
}

/** A key name: non-empty, no "+", no whitespace (Go's isValidName). */
const NAME = /^[^\s+]+$/u;

async function keyIdOf(name: string, publicKey: Uint8Array): Promise<string> {
  const nameBytes = new TextEncoder().encode(`${name}\n`);
  const input = new Uint8Array([...nameBytes, 0x01, ...publicKey]);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', input));
  return Array.from(digest.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Parses a verifier key; refuses one whose id does not match its key, or of another algorithm. */
export async function parseVerifierKey(text: string): Promise<VerifierKey> {
  // The base64 key may itself hold "+": the name and the id end at the first two.
  const [name, keyId, ...rest] = text.split('+');
  const key = rest.join('+');
  if (keyId === undefined || rest.length === 0) fail('a verifier key is <name>+<key id>+<base64 key>');
  if (!NAME.test(name)) fail('the key name is empty or has a space or "+"');
  if (!/^[0-9a-f]{8}$/.test(keyId)) fail('the key id is not 8 hex digits');
  const raw = fromBase64(key);
  if (raw.length !== 33 || raw[0] !== 0x01) fail('the key is not an Ed25519 key (0x01 and 32 bytes)');
  const publicKey = raw.subarray(1);
  if ((await keyIdOf(name, publicKey)) !== keyId) fail('the key id does not match the key');
  return { name, keyId, publicKey };
}

/**
 * Opens a signed note: its text, once a signature by `verifierKey` on it checks out. Signatures by other
 * keys are passed over; a bad signature by this key, or none at all, is refused.
 */
export async function openNote(note: string, verifierKey: string): Promise<string> {
  const key = await parseVerifierKey(verifierKey);
  // Valid text: no ASCII control character but the newline (JS strings cannot hold invalid UTF-8 from JSON).
  for (const ch of note) {
    const c = ch.codePointAt(0) as number;
    if ((c < 0x20 && c !== 0x0a) || (c >= 0xd800 && c <= 0xdfff)) fail('the note has a control character');
  }
  const split = note.lastIndexOf('\n\n');
  if (split < 0) fail('the note has no signature block');
  const text = note.slice(0, split + 1);
  const sigs = note.slice(split + 2);
  if (sigs.length === 0 || !sigs.endsWith('\n')) fail('the signature block does not end with a newline');
  const lines = sigs.slice(0, -1).split('\n');
  if (lines.length > 100) fail('too many signatures');
  const message = new TextEncoder().encode(text);
  let verified = false;
  for (const line of lines) {
    if (!line.startsWith('— ')) fail('a signature line does not start with an em dash');
    const [name, b64, ...rest] = line.slice(2).split(' ');
    if (rest.length > 0 || !NAME.test(name ?? '') || !b64) fail('a signature line is malformed');
    const sig = fromBase64(b64);
    if (sig.length < 5) fail('a signature is too short');
    const id = Array.from(sig.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    if (name !== key.name || id !== key.keyId) continue;
    const publicKey = await globalThis.crypto.subtle.importKey(
      'raw',
      key.publicKey,
      { name: 'Ed25519' },
      false,
      ['verify'],
    );
    if (!(await globalThis.crypto.subtle.verify({ name: 'Ed25519' }, publicKey, sig.subarray(4), message))) {
      fail(`the signature by ${name} does not verify`);
    }
    verified = true;
  }
  if (!verified) fail(`the note carries no signature by ${key.name}+${key.keyId}`);
  return text;
}

/**
 * Checks a checkpoint note (GET /api/v1/ledger/checkpoint's `note`) against the log's verifier key (GET
 * /api/v1/ledger/key, which you should have kept from before, not fetched along with the note) and returns
 * what it vouches for. With `origin` given, a checkpoint of another log is refused too.
 */
export async function verifyCheckpoint(
  note: string,
  verifierKey: string,
  origin?: string,
): Promise<VerifiedCheckpoint> {
  const text = await openNote(note, verifierKey);
  const [first, sizeLine, rootLine] = text.split('\n');
  if (!first) fail('the checkpoint has no origin');
  if (origin !== undefined && first !== origin) fail(`the checkpoint is of ${first}, not ${origin}`);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine ?? '') || !Number.isSafeInteger(Number(sizeLine))) {
    fail('the tree size is not a decimal number');
  }
  const root = fromBase64(rootLine ?? '');
  if (root.length !== 32) fail('the root hash is not 32 bytes');
  return { origin: first, treeSize: Number(sizeLine), rootHash: toBase64(root) };
}
