import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { Query } from './ledger-nodes';
import { type NodeId, nodeKey } from './merkle';

export interface CheckpointRow {
  tree_size: string;
  root_hash: Buffer;
  origin: string;
  note: string;
  created_at: Date;
}

/** What a proof needs from the database, read in one statement. */
export interface ProofRead {
  /** The newest checkpoint's size (a proof may reach any size up to it). */
  newest: number;
  /** Who the event touches; undefined when there is no event with that sequence (or none was asked). */
  users?: string[];
  /** The stored nodes found among those asked for, by nodeKey. */
  nodes: Map<string, Buffer>;
}

// Ordered by c.tree_size, the column: a bare `tree_size` in ORDER BY names the text output column, and
// sorted its digits ('9' after '10').
const CHECKPOINT_COLUMNS = `c.tree_size::text AS tree_size, c.root_hash, c.origin, c.note, c.created_at`;

/**
 * Reads of the ledger for the API, on the primary (the appender writes there; a replica's older tree would
 * answer NOT_IN_TREE for a checkpoint the caller has just seen). A proof is ONE statement: the newest
 * checkpoint's size, the event's users and the O(log n) nodes, each by its primary key.
 */
@Injectable()
export class LedgerRepository {
  private readonly query: Query;

  constructor(@InjectDataSource() dataSource: DataSource) {
    this.query = <T>(sql: string, params: unknown[]) => dataSource.query<T[]>(sql, params);
  }

  async newestCheckpoint(): Promise<CheckpointRow | undefined> {
    const [row] = await this.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM ledger_checkpoints c ORDER BY c.tree_size DESC LIMIT 1`,
      [],
    );
    return row;
  }

  checkpoints(after: string | undefined, limit: number): Promise<CheckpointRow[]> {
    return this.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM ledger_checkpoints c
        WHERE c.tree_size > $1::bigint ORDER BY c.tree_size LIMIT $2`,
      [after ?? '-1', limit],
    );
  }

  /**
   * In one snapshot: the newest checkpoint's size, the users of event `sequence` (when given), and the
   * stored nodes among `ids`. The nodes of any size up to the newest are there (the appender writes a
   * checkpoint and its nodes in one transaction); nodes past it may be missing, as the caller refuses such
   * sizes anyway.
   */
  async forProof(sequence: number | undefined, ids: NodeId[]): Promise<ProofRead> {
    const rows = await this.query<{
      newest: string | null;
      user_ids: string[] | null;
      level: number | null;
      idx: string | null;
      hash: Buffer | null;
    }>(
      `SELECT h.newest::text AS newest, ev.user_ids, n.level, n.idx::text AS idx, n.hash
         FROM (SELECT max(tree_size) AS newest FROM ledger_checkpoints) h
         LEFT JOIN (SELECT e.user_ids FROM numbered_events e WHERE e.sequence = $1::bigint) ev ON true
         LEFT JOIN (SELECT n.level, n.idx, n.hash
                      FROM unnest($2::smallint[], $3::bigint[]) k(level, idx)
                      JOIN ledger_nodes n ON n.level = k.level AND n.idx = k.idx) n ON true`,
      [sequence ?? null, ids.map((n) => n.level), ids.map((n) => n.index)],
    );
    const nodes = new Map<string, Buffer>();
    for (const r of rows) {
      if (r.hash !== null) nodes.set(nodeKey({ level: Number(r.level), index: Number(r.idx) }), r.hash);
    }
    const first = rows[0];
    return { newest: Number(first.newest ?? -1), users: first.user_ids ?? undefined, nodes };
  }
}
