import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The independent test vectors of the verifiable ledger (RFC 6962/9162 proofs from transparency-dev/merkle,
 * RFC 8785 from cyberphone/json-canonicalization, signed notes from golang/mod sumdb/note and
 * transparency-dev/formats). They are read where they are published on this machine, never copied into the
 * repository: HFTS_VECTORS_DIR, default /work/shared/vectors/ledger. Missing is a failure, not a skip.
 */
export const VECTORS_DIR = process.env.HFTS_VECTORS_DIR ?? '/work/shared/vectors/ledger';

export function readVectors<T>(file: string): T {
  const path = join(VECTORS_DIR, file);
  if (!existsSync(path)) {
    throw new Error(
      `ledger test vectors not found at ${path}: set HFTS_VECTORS_DIR to the directory holding ` +
        'merkle-probes.json, merkle-tree.json, jcs.json and notes.json',
    );
  }
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
