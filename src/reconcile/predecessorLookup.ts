import type pg from 'pg';
import type { ColumnInfo, PredecessorLookup } from '../db/plan.js';
import { tableIndexesStatement } from '../sql/indexes.js';

interface IndexRow {
  method: string;
  partial: boolean;
  valid: boolean;
  columns: (string | null)[];
}

function leadsWith(index: IndexRow, columns: readonly string[]): boolean {
  return columns.every((c, i) => index.columns[i] === c);
}

/**
 * How batches find a duplicate's current predecessor (JobPlan.predecessorLookup).
 *
 * `order` whenever a usable btree leads with (key..., orderBy...): the re-verifying statement
 * reads the row before each duplicate through it, one probe each.
 *
 * Without it, that read is a scan of the table per duplicate (measured: a 2M-row table with
 * only a primary key timed out at its first batch), so `history`: the statement reads the
 * whole histories of the batch's objects in one pass over the table (a hash semi-join on the
 * keys), takes the row before each duplicate there by a window, and locks it by its ctid.
 * The same guarantee as `order` (the current predecessor, as of the statement, locked FOR
 * SHARE), at the cost of one pass over the table per batch: `check` recommends the index.
 * (An earlier form looked up, by a unique tie-breaker, only the rows the scan had seen before
 * the duplicate: a row moved into the stretch by an UPDATE after the scan was invisible to it
 * and a real transition was lost, found by the review of #10.)
 */
export async function choosePredecessorLookup(
  client: pg.ClientBase,
  table: number,
  columns: { key: ColumnInfo[]; orderBy: ColumnInfo[] },
): Promise<PredecessorLookup> {
  const { rows } = await client.query<IndexRow>(tableIndexesStatement(table));
  const usable = rows.filter((r) => r.method === 'btree' && r.valid && !r.partial);
  const order = [...columns.key, ...columns.orderBy].map((c) => c.name);
  return usable.some((r) => leadsWith(r, order)) ? 'order' : 'history';
}
