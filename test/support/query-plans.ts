import type { TestApp } from './app';

/** A node of `EXPLAIN (ANALYZE, FORMAT JSON)`, with the fields the tests read. */
export type PlanNode = {
  'Node Type': string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
};

/** The node and every node under it. */
export function nodes(n: PlanNode): PlanNode[] {
  return [n, ...(n.Plans ?? []).flatMap(nodes)];
}

/** Rows every scan of the plan read: those it kept and those its filters removed, over all its loops. */
export function rowsRead(plan: PlanNode, relation?: string): number {
  return nodes(plan)
    .filter((n) => /Scan/.test(n['Node Type']) && (!relation || n['Relation Name'] === relation))
    .reduce(
      (sum, n) =>
        sum +
        (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) *
          n['Actual Loops'],
      0,
    );
}

/** The executed plan of a statement with its parameters. */
export async function explain(t: TestApp, q: { text: string; params: unknown[] }): Promise<PlanNode> {
  const { rows } = await t.sql.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
    `EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`,
    q.params,
  );
  return rows[0]['QUERY PLAN'][0].Plan;
}
