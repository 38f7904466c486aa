import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';

/**
 * C2SP signed-note with Ed25519, in the key formats of Go's golang.org/x/mod/sumdb/note:
 * signer key `PRIVATE+KEY+<name>+<key id, 8 hex>+<base64(0x01 || 32-byte seed)>`, verifier key
 * `<name>+<key id>+<base64(0x01 || 32-byte public key)>`, key id = SHA-256(name || 0x0A || 0x01 || public
 * key)[0:4], signature line `— <name> <base64(key id || signature)>`.
 */
export interface NoteSigner {
  name: string;
  keyId: Buffer;
  verifierKey: string;
  privateKey: KeyObject;
}

const ED25519 = 0x01;
// The DER header of a PKCS#8 Ed25519 private key (RFC 8410), followed by the 32-byte seed.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const NAME = /^[^\s+]+$/u;

export class KeyFormatError extends Error {}

function keyId(name: string, publicKey: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.from(`${name}\n`, 'utf8'))
    .update(Buffer.from([ED25519]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

function publicKeyOf(privateKey: KeyObject): Buffer {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32);
}

/** A signer from its 32-byte seed. */
export function signerFromSeed(name: string, seed: Buffer): NoteSigner {
  if (!NAME.test(name)) throw new KeyFormatError('a key name is non-empty, without spaces or "+"');
  if (seed.length !== 32) throw new KeyFormatError('an Ed25519 seed is 32 bytes');
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const pub = publicKeyOf(privateKey);
  const id = keyId(name, pub);
  const verifierKey = `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), pub]).toString('base64')}`;
  return { name, keyId: id, verifierKey, privateKey };
}

/** Parses a signer key; refuses one whose key id does not match its key (a key copied wrong). */
export function parseSignerKey(text: string): NoteSigner {
  // The base64 key may itself hold "+": the fields before it end at the first four.
  const [priv, word, name, id, ...rest] = text.trim().split('+');
  const key = rest.join('+');
  if (priv !== 'PRIVATE' || word !== 'KEY' || !name || !id || !key) {
    throw new KeyFormatError('expected PRIVATE+KEY+<name>+<key id>+<base64 key>');
  }
  const raw = Buffer.from(key, 'base64');
  if (raw.toString('base64') !== key || raw.length !== 33 || raw[0] !== ED25519) {
    throw new KeyFormatError('the key is not base64 of 0x01 and a 32-byte Ed25519 seed');
  }
  const signer = signerFromSeed(name, raw.subarray(1));
  if (signer.keyId.toString('hex') !== id) throw new KeyFormatError(`key id ${id} does not match the key`);
  return signer;
}

/** The signer key text of a signer made from `seed` (what the database keeps for a generated key). */
export function signerKeyText(signer: NoteSigner, seed: Buffer): string {
  return `PRIVATE+KEY+${signer.name}+${signer.keyId.toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), seed]).toString('base64')}`;
}

/** Signs a note text (each line ending in a newline): the text, an empty line, the signature line. */
export function signNote(signer: NoteSigner, text: string): string {
  const signature = sign(null, Buffer.from(text, 'utf8'), signer.privateKey);
  return `${text}\n— ${signer.name} ${Buffer.concat([signer.keyId, signature]).toString('base64')}\n`;
}

/** The C2SP tlog-checkpoint body: origin, tree size, root hash. */
export function checkpointText(origin: string, treeSize: number, rootHash: Buffer): string {
  return `${origin}\n${treeSize}\n${rootHash.toString('base64')}\n`;
}
