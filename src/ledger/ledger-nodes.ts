import { type LeafRange, type NodeId, decompose, fold, nodeKey } from './merkle';

/** Runs one query: the app's DataSource, or a pooled client inside a transaction. */
export type Query = <T>(sql: string, params: unknown[]) => Promise<T[]>;

/** A stored node that should exist and does not: the tree is shorter than asked, or rows were lost. */
export class MissingNodeError extends Error {}

/** The stored hashes of the given nodes, in ONE indexed query (a proof's few dozen rows). */
export async function readNodes(query: Query, ids: NodeId[]): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  if (ids.length === 0) return found;
  const rows = await query<{ level: number; idx: string; hash: Buffer }>(
    `SELECT n.level, n.idx::text AS idx, n.hash
       FROM unnest($1::smallint[], $2::bigint[]) k(level, idx)
       JOIN ledger_nodes n ON n.level = k.level AND n.idx = k.idx`,
    [ids.map((n) => n.level), ids.map((n) => String(n.index))],
  );
  for (const r of rows) found.set(`${r.level}:${r.idx}`, r.hash);
  return found;
}

/** Every node the MTH of these ranges is folded from (read them, then `rangeHashes`). */
export function rangeNodes(ranges: LeafRange[]): NodeId[] {
  return ranges.flatMap(decompose);
}

/** MTH of each range, from the stored nodes read for them (`rangeNodes`). */
export function rangeHashes(nodes: Map<string, Buffer>, ranges: LeafRange[]): Buffer[] {
  return ranges.map((range) =>
    fold(
      decompose(range).map((id) => {
        const hash = nodes.get(nodeKey(id));
        if (!hash) throw new MissingNodeError(`ledger node ${nodeKey(id)} is missing`);
        return hash;
      }),
    ),
  );
}
