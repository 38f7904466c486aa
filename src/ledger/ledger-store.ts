import type { Pool, PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import { sameDatabasePool } from '../database/pools';
import { type EventRow, eventJson } from '../events/event.record';
import { canonicalJson } from './canonical-json';
import { readNodes, type Query } from './ledger-nodes';
import { append, decompose, fold, leafHashOfText, type NodeId, nodeKey, type StoredNode } from './merkle';

/** What the appender needs signed: the checkpoint of a tree of `treeSize` leaves with root `rootHash`. */
export type CheckpointSigner = (
  treeSize: number,
  rootHash: Buffer,
) => { origin: string; verifierKey: string; note: string };

/** The stored tree disagrees with a signed checkpoint: nothing more may be signed (ledger:verify says where). */
export class LedgerDivergenceError extends Error {}

/** What a leaf is made of: the columns of the event JSON (not `user_ids`, which it does not carry). */
export type LeafRow = Omit<EventRow, 'user_ids'>;
const LEAF_COLUMNS = `e.id, e.type, e.sequence::text AS sequence, e.created_at, e.wallet_ids, e.data`;

/** The leaf text of an event: RFC 8785 of the event JSON that GET /events answers (hashed as UTF-8). */
export function leafText(row: LeafRow): string {
  return canonicalJson(eventJson(row));
}

/** The leaf hash of an event: SHA-256(0x00 || leafText in UTF-8), RFC 9162. */
export function eventLeafHash(row: LeafRow): Buffer {
  return leafHashOfText(leafText(row));
}

/**
 * The appender's writes and the signing key's row, on a small pool of its own (like the NATS relay's): a
 * pass never waits for a connection that a money movement needs, nor holds one of theirs.
 */
export class LedgerStore {
  private constructor(private readonly pool: Pool) {}

  static onSameDatabase(dataSource: DataSource): LedgerStore {
    return new LedgerStore(sameDatabasePool(dataSource, 'hfts-ledger', 1));
  }

  close(): Promise<void> {
    return this.pool.end();
  }

  /**
   * The database's signing key: `generated` inserted when there is none yet, then whatever is stored read
   * back, so that every instance, started together or not, signs with the first key written.
   */
  async signingKey(generated: string): Promise<string> {
    await this.pool.query(
      `INSERT INTO ledger_signing_key (id, signer_key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
      [generated],
    );
    const { rows } = await this.pool.query<{ signer_key: string }>(
      `SELECT signer_key FROM ledger_signing_key WHERE id = 1`,
    );
    return rows[0].signer_key;
  }

  /** The size-0 checkpoint, signed once per log (a second instance's insert changes nothing). */
  async ensureEmptyCheckpoint(signed: { origin: string; verifierKey: string; note: string }): Promise<void> {
    await this.pool.query(
      `INSERT INTO ledger_checkpoints (tree_size, root_hash, origin, verifier_key, note)
       VALUES (0, $1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING`,
      [fold([]), signed.origin, signed.verifierKey, signed.note],
    );
  }

  /**
   * One pass, in one transaction under an advisory lock (one pass at a time per database): the next numbered
   * events (at most `maxLeaves`, without a gap) become leaves, every subtree they complete is stored, and the
   * new head is signed, after checking that the stored tree still gives the newest checkpoint's root. The
   * first pass on an empty log signs the size-0 checkpoint. Returns the leaves added (-1: another pass ran).
   */
  async appendPass(maxLeaves: number, sign: CheckpointSigner): Promise<number> {
    const c = await this.pool.connect();
    // pg's Pool stops listening to a client it hands out: a server going away during the pass (a
    // switchover) would otherwise be an unhandled 'error' event that ends the process. The pass fails.
    const lost = (): void => undefined;
    c.on('error', lost);
    try {
      await c.query('BEGIN');
      const added = await this.appendIn(c, maxLeaves, sign);
      await c.query('COMMIT');
      return added;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.off('error', lost);
      c.release();
    }
  }

  private async appendIn(c: PoolClient, maxLeaves: number, sign: CheckpointSigner): Promise<number> {
    const query: Query = async <T>(sql: string, params: unknown[]) =>
      (await c.query(sql, params)).rows as T[];
    // The pass's reads are by index, whatever the statistics say. Without these settings (local to the
    // pass's transaction), a backlog's 10,000 events were read by hashing the whole events table (EXPLAIN
    // at 300,000 events: 570 ms, against 90-220 ms for 10,000 probes of its primary key), or by a parallel
    // plan whose worker start and merge cost more than the probes.
    const [lock] = await query<{ ok: boolean }>(
      `SELECT pg_try_advisory_xact_lock(hashtext('hfts.ledger.appender')) AS ok,
              set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
              set_config('max_parallel_workers_per_gather', '0', true)`,
      [],
    );
    if (!lock.ok) return -1;
    // Read once the lock is held (this statement's snapshot is taken after it): what earlier passes stored.
    const [head] = await query<{ size: string; signed_size: string | null; signed_root: Buffer | null }>(
      `SELECT (SELECT coalesce(max(idx) + 1, 0) FROM ledger_nodes WHERE level = 0)::text AS size,
              c.tree_size::text AS signed_size, c.root_hash AS signed_root
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT tree_size, root_hash FROM ledger_checkpoints
                             ORDER BY tree_size DESC LIMIT 1) c ON true`,
      [],
    );
    if (head.signed_size === null || head.signed_root === null) {
      throw new LedgerDivergenceError('the log has no checkpoint, not even the size-0 one');
    }
    const size = Number(head.size);
    const signedSize = Number(head.signed_size);
    // Exactly the sequences after the tree's size, as a range of event_sequence's key: each is one probe
    // of the events' primary key, however many events there are (never a scan or a hash of the table).
    const events = await query<LeafRow>(
      `SELECT ${LEAF_COLUMNS} FROM numbered_events e
        WHERE e.sequence > $1::bigint AND e.sequence <= $1::bigint + $2::int ORDER BY e.sequence`,
      [size, maxLeaves],
    );
    // Sequences have no gaps; should one ever show, the leaves stop before it rather than misnumber one.
    let count = 0;
    while (count < events.length && Number(events[count].sequence) === size + 1 + count) count++;
    if (count === 0) return 0;
    if (signedSize > size) {
      throw new LedgerDivergenceError(`the tree has ${size} leaves, fewer than checkpoint ${signedSize}`);
    }

    // The tree's right edge, and the nodes of the newest checkpoint's root (the same ones when, as after
    // every pass, the newest checkpoint covers the whole tree), in one read.
    const frontierIds = decompose([0, size]);
    const signedIds = signedSize === size ? [] : decompose([0, signedSize]);
    const stored = await readNodes(query, [...frontierIds, ...signedIds]);
    const hashOf = (id: NodeId): Buffer => {
      const hash = stored.get(nodeKey(id));
      if (!hash) throw new LedgerDivergenceError(`ledger node ${nodeKey(id)} is missing`);
      return hash;
    };
    const frontier: StoredNode[] = frontierIds.map((id) => ({ ...id, hash: hashOf(id) }));
    // No checkpoint is signed over a stored tree that no longer gives the newest checkpoint's root.
    const signedRoot = fold(signedSize === size ? frontier.map((n) => n.hash) : signedIds.map(hashOf));
    if (!signedRoot.equals(head.signed_root)) {
      throw new LedgerDivergenceError(`the stored tree no longer gives the root of checkpoint ${signedSize}`);
    }

    const leaves = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) leaves[i] = eventLeafHash(events[i]);
    const grown = append(frontier, size, leaves);
    const newSize = size + count;
    const root = fold(grown.frontier.map((n) => n.hash));
    const signed = sign(newSize, root);
    // The nodes and the checkpoint in one statement. The checkpoint is stamped when signed
    // (clock_timestamp), not when the pass began (now()): createdAt says when it vouched for its events,
    // which is what the commit-to-checkpoint lag measures.
    await c.query(
      `WITH nodes AS (
         INSERT INTO ledger_nodes (level, idx, hash)
         SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]))
       INSERT INTO ledger_checkpoints (tree_size, root_hash, origin, verifier_key, note, created_at)
       VALUES ($4, $5, $6, $7, $8, clock_timestamp())`,
      [
        grown.created.map((n) => n.level),
        grown.created.map((n) => n.index),
        grown.created.map((n) => n.hash),
        newSize,
        root,
        signed.origin,
        signed.verifierKey,
        signed.note,
      ],
    );
    return count;
  }
}
