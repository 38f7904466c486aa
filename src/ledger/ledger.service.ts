import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../common/auth/auth-user';
import { AppError } from '../common/errors/error-codes';
import type {
  CheckpointDto,
  CheckpointPageDto,
  ConsistencyProofDto,
  InclusionProofDto,
  LedgerKeyDto,
} from './dto/ledger.dto';
import { type CheckpointRow, LedgerRepository, type ProofRead } from './ledger.repository';
import { rangeHashes, rangeNodes } from './ledger-nodes';
import { LedgerSigner } from './ledger-signer';
import { consistencyRanges, inclusionRanges, type LeafRange } from './merkle';
import { ProofCache } from './proof-cache';

export const CHECKPOINTS_PAGE_DEFAULT = 20;
/**
 * Proofs kept in memory, of each kind: a proof for given sizes never changes (and a size once signed stays
 * signed), so a cached one needs no read at all. About 1.5 kB each at a million leaves: some 12 MB in all.
 */
const PROOFS_CACHED = 4096;

function checkpointDto(row: CheckpointRow): CheckpointDto {
  return {
    origin: row.origin,
    treeSize: Number(row.tree_size),
    rootHash: row.root_hash.toString('base64'),
    note: row.note,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

const b64 = (h: Buffer): string => h.toString('base64');

/**
 * The ledger as the contract serves it: the key, checkpoints, and proofs computed from the stored subtree
 * hashes (src/ledger/merkle.ts) for any tree size up to the newest checkpoint's.
 */
@Injectable()
export class LedgerService {
  private readonly inclusions = new ProofCache<{ users: string[]; proof: InclusionProofDto }>(PROOFS_CACHED);
  private readonly consistencies = new ProofCache<ConsistencyProofDto>(PROOFS_CACHED);
  /** The largest newest size read so far: sizes up to it are signed (they only grow). */
  private knownNewest = 0;

  constructor(
    private readonly ledger: LedgerRepository,
    private readonly signer: LedgerSigner,
  ) {}

  key(): LedgerKeyDto {
    const key = this.signer.key;
    return { origin: this.signer.origin, keyName: key.name, verifierKey: key.verifierKey };
  }

  async checkpoint(): Promise<CheckpointDto> {
    return checkpointDto(await this.newest());
  }

  async checkpoints(after: string | undefined, limit = CHECKPOINTS_PAGE_DEFAULT): Promise<CheckpointPageDto> {
    const rows = await this.ledger.checkpoints(after, limit + 1);
    const items = rows.slice(0, limit).map(checkpointDto);
    const nextCursor = rows.length > limit ? String(items[items.length - 1].treeSize) : null;
    return { items, nextCursor };
  }

  /**
   * The audit path of event `sequence` in the tree of `treeSize` leaves (default: the newest checkpoint's).
   * An event the caller may not read is 404, as GET /events would not show it; one that does not exist, or
   * a size it is not in, 422. With `treeSize` given, one statement (or none: an answer given before, for
   * any caller allowed to see the event); without it, a second for the nodes, unless that size was asked.
   */
  async inclusion(caller: AuthUser, sequence: number, treeSize?: number): Promise<InclusionProofDto> {
    if (treeSize !== undefined) {
      const hit = this.inclusions.get(`${sequence}:${treeSize}`);
      if (hit) return this.allowed(caller, sequence, hit.users) && hit.proof;
    }
    const leafIndex = sequence - 1;
    const ranges = (size: number): LeafRange[] => [
      [leafIndex, sequence],
      ...inclusionRanges(leafIndex, size),
    ];
    // The nodes are read along when the size is one the log is known to have signed (no reads for a
    // size past the tree); otherwise after the newest size is known.
    const shaped =
      treeSize !== undefined && sequence >= 1 && sequence <= treeSize && treeSize <= this.knownNewest;
    const read = await this.ledger.forProof(
      sequence >= 1 ? sequence : undefined,
      shaped ? rangeNodes(ranges(treeSize)) : [],
    );
    const newest = this.newestOf(read);
    const users = read.users;
    if (!users) throw new AppError('NOT_IN_TREE', `there is no event with sequence ${sequence}`);
    this.allowed(caller, sequence, users);
    const size = treeSize ?? newest;
    if (sequence > size || size > newest) {
      throw new AppError(
        'NOT_IN_TREE',
        `event ${sequence} is not in a tree of size ${size} (sizes ${sequence} to ${newest} are, once signed)`,
      );
    }
    const key = `${sequence}:${size}`;
    if (treeSize === undefined) {
      const hit = this.inclusions.get(key);
      if (hit) return hit.proof;
    }
    const nodes = shaped
      ? read.nodes
      : (await this.ledger.forProof(undefined, rangeNodes(ranges(size)))).nodes;
    const [leaf, ...path] = rangeHashes(nodes, ranges(size));
    const proof = { sequence, leafIndex, treeSize: size, leafHash: b64(leaf), auditPath: path.map(b64) };
    this.inclusions.set(key, { users, proof });
    return proof;
  }

  /** The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves: one statement, or none. */
  async consistency(from: number, to: number): Promise<ConsistencyProofDto> {
    const key = `${from}:${to}`;
    const hit = this.consistencies.get(key);
    if (hit) return hit;
    const ranges = from > 0 && from < to ? consistencyRanges(from, to) : [];
    const along = to <= this.knownNewest;
    const read = await this.ledger.forProof(undefined, along ? rangeNodes(ranges) : []);
    const newest = this.newestOf(read);
    if (!(from > 0 && from <= to && to <= newest)) {
      throw new AppError(
        'NOT_IN_TREE',
        `sizes must satisfy 0 < from <= to <= ${newest} (the newest checkpoint)`,
      );
    }
    const nodes = along ? read.nodes : (await this.ledger.forProof(undefined, rangeNodes(ranges))).nodes;
    const proof = { from, to, proof: rangeHashes(nodes, ranges).map(b64) };
    this.consistencies.set(key, proof);
    return proof;
  }

  /** Refuses (404) a caller who may not read the event, as GET /events would not show it to them. */
  private allowed(caller: AuthUser, sequence: number, users: string[]): true {
    if (caller.role !== 'ADMIN' && !users.includes(caller.id)) {
      throw new AppError('NOT_FOUND', `no event with sequence ${sequence} among yours`);
    }
    return true;
  }

  private newestOf(read: ProofRead): number {
    // Start-up signs the size-0 checkpoint, so there is always one; without it the log is not set up.
    if (read.newest < 0) throw new AppError('SERVICE_UNAVAILABLE', 'the ledger has no checkpoint yet');
    this.knownNewest = Math.max(this.knownNewest, read.newest);
    return read.newest;
  }

  private async newest(): Promise<CheckpointRow> {
    const row = await this.ledger.newestCheckpoint();
    // Start-up signs the size-0 checkpoint, so there is always one; without it the log is not set up.
    if (!row) throw new AppError('SERVICE_UNAVAILABLE', 'the ledger has no checkpoint yet');
    return row;
  }
}
