import { ident, qualified } from '../db/quote.js';
import type { JobPlan } from '../db/plan.js';
import { filterConditions, type ArchiveFilter } from './archiveFilter.js';
import type { Statement } from './types.js';

/** `n`: how many archived rows the filter selects (what a dry run reports). */
export function countArchivedStatement(plan: JobPlan, filter: ArchiveFilter): Statement {
  const { where, values } = filterConditions('a', plan.key, filter, 1, true);
  return {
    text: `SELECT count(*)::text AS n FROM ${qualified(plan.job.archiveTable!)} a WHERE ${where}`,
    values,
  };
}

/**
 * Moves up to `batchSize` archived rows that the filter selects back into the history table,
 * in one statement, so a row is never in both tables nor in neither: the DELETE's RETURNING
 * feeds the INSERT, and either both happen or neither does. `columns` are the history
 * table's columns but its generated ones (which PostgreSQL computes again from the others):
 * each takes the archived value, the ids too. OVERRIDING SYSTEM VALUE lets a GENERATED ALWAYS
 * identity column take its old value instead of a new one from its sequence (and is a no-op
 * on a table without one).
 *
 * The rows are picked first and deleted by partition and ctid (a TID scan, as the batches of a
 * run find their duplicates): DELETE has no LIMIT, and ctid is unique only within one
 * relation, so on a partitioned archive the partition must match too. No ORDER BY: every
 * batch removes what it picked, so the next finds the rest, and sorting the archive for each
 * batch would cost more than the order could be worth. It returns how many rows left the
 * archive and how many the table took: a trigger that returns NULL, or a rule, can make an
 * INSERT take fewer than it was given, and the caller then rolls the batch back (review of
 * #12: such a row was in neither table).
 */
export function restoreBatchStatement(
  plan: JobPlan,
  columns: string[],
  filter: ArchiveFilter,
  batchSize: number,
): Statement {
  const { where, values } = filterConditions('a', plan.key, filter, 2, true);
  const archive = qualified(plan.job.archiveTable!);
  const list = columns.map(ident);
  return {
    text: `WITH picked AS MATERIALIZED (
  SELECT a.tableoid AS toid, a.ctid AS tid FROM ${archive} a WHERE ${where} LIMIT $1
), moved AS (
  DELETE FROM ${archive} a USING picked p
   WHERE a.ctid = ANY (ARRAY(SELECT tid FROM picked)) AND a.tableoid = p.toid AND a.ctid = p.tid
  RETURNING ${list.map((c) => `a.${c}`).join(', ')}
), put AS (
  INSERT INTO ${qualified(plan.job.table)} (${list.join(', ')}) OVERRIDING SYSTEM VALUE
  SELECT ${list.join(', ')} FROM moved
  RETURNING 1
)
SELECT (SELECT count(*) FROM moved)::int AS deleted, (SELECT count(*) FROM put)::int AS inserted`,
    values: [batchSize, ...values],
  };
}
