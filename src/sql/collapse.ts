import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { lockedRowsFrom, lockedRowsValues, type LockedRow } from './batchRows.js';
import type { Reference } from './references.js';
import type { Statement } from './types.js';

export type { DuplicateRef } from './batchRows.js';

export interface CollapseRow {
  /** Rows removed (deleted, or moved into the archive). */
  removed: number;
  /** Places in the batch of the re-verified duplicates kept because a row references them. */
  referenced: number[];
  /** For each reference (in the order given), how many of those it references. */
  byReference: number[];
}

/**
 * The CURRENT predecessor of row `t` (same key, the greatest orderBy below its own), locked
 * FOR SHARE, as a subquery for a LATERAL join selecting `columns` from it as `p`. Never SKIP
 * LOCKED here: it would pass over a locked predecessor and return an older row as if it were
 * the one before.
 */
function predecessorSubquery(plan: JobPlan, columns: string): string {
  const t = qualified(plan.job.table);
  const keys = plan.key.map((c) => ident(c.name));
  const orders = plan.orderBy.map((c) => ident(c.name));
  return `(
      SELECT ${columns} FROM ${t} p
       WHERE ${keys.map((k) => `p.${k} = t.${k}`).join(' AND ')}
         AND (${orders.map((o) => `p.${o}`).join(', ')}) < (${orders.map((o) => `t.${o}`).join(', ')})
         -- as the scan: a row with a NULL orderBy column has no place in a history (a row
         -- comparison would still let (earlier, NULL) through as the predecessor)
         AND ${orders.map((o) => `p.${o} IS NOT NULL`).join(' AND ')}
       ORDER BY ${orders.map((o) => `p.${o} DESC`).join(', ')}
       LIMIT 1
       FOR SHARE
    ) p`;
}

/**
 * Whether some row references `t` through `ref`, with the equality operators of the
 * constraint itself. A self-reference does not count the row itself (a row that references
 * only itself goes, and with it its only reference).
 */
function referencedBy(ref: Reference): string {
  const pairs = ref.parentColumns.map(
    (column, i) => `t.${ident(column)} ${ref.operators[i]} c.${ident(ref.childColumns[i] as string)}`,
  );
  if (ref.selfReference) pairs.push('NOT (c.tableoid = t.tableoid AND c.ctid = t.ctid)');
  return `EXISTS (SELECT 1 FROM ${qualified(ref.child)} c WHERE ${pairs.join(' AND ')})`;
}

/**
 * Removes (or archives) the rows of one batch that it holds locked (src/sql/batchLocks.ts),
 * re-verifying each in the same statement: a row goes only if its CURRENT predecessor (by
 * orderBy, same key) still has equal compare values. The scan judged it from a snapshot; a
 * row that landed in between since then (or a predecessor someone else removed) is seen
 * here, and the row is then kept.
 *
 * The predecessor is locked FOR SHARE: should someone else be deleting or updating it in
 * a transaction still open, the batch waits for it (up to lock_timeout) and then judges
 * against what that transaction left, instead of against a row about to disappear. Never
 * SKIP LOCKED: that would pass over a locked predecessor and judge the row against an older
 * one. Past lock_timeout the statement fails, and the batch is retried in halves until the
 * rows whose predecessor is held are isolated (src/reconcile/batchRemover.ts).
 *
 * When foreign keys reference the table (`references`), a row that some row references is
 * kept: never deleted, so that no ON DELETE action reaches another table. The batch holds
 * every row here locked FOR UPDATE since a statement before this one, so an insert that
 * references one of them waits (it locks it FOR KEY SHARE) and fails once the row is gone;
 * and this statement's snapshot, taken after those locks (READ COMMITTED), sees every
 * referencing row committed before them. Without references the check costs nothing.
 *
 * In archive mode the DELETE ... RETURNING feeds the INSERT in the same statement, so a row
 * is never in both tables nor in neither, whatever fails. Its archive copy records when, and
 * the last orderBy value (the unique id) of the row it repeated.
 */
export function collapseStatement(
  plan: JobPlan,
  rows: readonly LockedRow[],
  references: readonly Reference[],
): Statement {
  const t = qualified(plan.job.table);
  const last = ident(plan.tieBreaker.name);
  const locked = lockedRowsFrom(plan);
  const predecessorCompare = plan.compare.map((c, i) => `p.${ident(c.name)} AS pc${i}`);
  const sameCompare = plan.compare
    .map((c, i) => `p.pc${i} IS NOT DISTINCT FROM t.${ident(c.name)}`)
    .join(' AND ');
  const flags = references.map((ref, i) => `,\n         ${referencedBy(ref)} AS r${i}`).join('');
  const anyFlag = references.length === 0 ? 'false' : references.map((_, i) => `d.r${i}`).join(' OR ');
  const predecessor = predecessorSubquery(plan, `${predecessorCompare.join(', ')}, p.${last} AS repeated`);

  // ctid is unique only within one relation: on a partitioned table the partition
  // (tableoid) must match too, or a row at the same position in another partition goes.
  const columns = plan.columns.map((c) => ident(c.name));
  const returning =
    plan.job.mode === 'delete' ? '1' : `${columns.map((c) => `t.${c}`).join(', ')}, d.doomed_repeated`;
  const archive =
    plan.job.mode === 'delete'
      ? ''
      : `, moved AS (
  INSERT INTO ${qualified(plan.job.archiveTable!)} (${columns.join(', ')}, ${ident(ARCHIVED_AT)}, ${ident(REPEATED_ID)})
  SELECT ${columns.join(', ')}, now(), doomed_repeated FROM gone
)`;
  const byReference =
    references.length === 0
      ? 'ARRAY[]::int4[]'
      : `ARRAY[${references.map((_, i) => `(SELECT count(*) FROM doomed d WHERE d.r${i})::int4`).join(', ')}]`;
  return {
    text: `
WITH doomed AS MATERIALIZED (
  SELECT g.ord, t.tableoid AS doomed_table, t.ctid AS doomed_tid, p.repeated AS doomed_repeated${flags}
    FROM ${locked.from}
    CROSS JOIN LATERAL ${predecessor}
   WHERE ${locked.where} AND ${sameCompare}
), gone AS (
  DELETE FROM ${t} t USING doomed d
   WHERE t.tableoid = d.doomed_table AND t.ctid = d.doomed_tid AND NOT (${anyFlag})
  RETURNING ${returning}
)${archive}
SELECT (SELECT count(*) FROM gone)::int4 AS removed,
       ARRAY(SELECT d.ord FROM doomed d WHERE ${anyFlag} ORDER BY d.ord) AS referenced,
       ${byReference} AS "byReference"`,
    values: lockedRowsValues(rows),
  };
}
