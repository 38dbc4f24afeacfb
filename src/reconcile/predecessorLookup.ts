import type pg from 'pg';
import type { ColumnInfo, PredecessorLookup } from '../db/plan.js';
import { tableIndexesStatement } from '../sql/indexes.js';

interface IndexRow {
  method: string;
  unique: boolean;
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
 * then reads the row that is before the duplicate now, whatever happened since the scan.
 *
 * Without it that read is a scan of the table per duplicate (measured: a 2M-row table with
 * only a primary key timed out at its first batch), so with a unique index on the tie-breaker
 * alone, `tieBreaker`: the batch looks up, by tie-breaker, the rows the scan saw before the
 * duplicate in its stretch (the nearest first) and re-verifies against the nearest still
 * there, locked FOR SHARE, with its current values, key and order. That sees a predecessor
 * deleted, updated or locked since the scan, as `order` does; what it cannot see is a row
 * inserted (or moved) in between after the scan, with a time below the horizon: a writer
 * breaking the settle contract (design rule 1), which no re-check protects from anyway once
 * that row lands a moment after the removal. `check` recommends the (key, orderBy) index.
 *
 * Neither index: `order`, slow but exact (check says which index to add).
 */
export async function choosePredecessorLookup(
  client: pg.ClientBase,
  table: number,
  columns: { key: ColumnInfo[]; orderBy: ColumnInfo[]; tieBreaker: ColumnInfo },
): Promise<PredecessorLookup> {
  const { rows } = await client.query<IndexRow>(tableIndexesStatement(table));
  const usable = rows.filter((r) => r.method === 'btree' && r.valid && !r.partial);
  const order = [...columns.key, ...columns.orderBy].map((c) => c.name);
  if (usable.some((r) => leadsWith(r, order))) return 'order';
  const byTieBreaker = usable.some(
    (r) => r.unique && r.columns.length === 1 && r.columns[0] === columns.tieBreaker.name,
  );
  return byTieBreaker ? 'tieBreaker' : 'order';
}
