import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { lockedTargetsRelation } from './batchLocks.js';
import { routeCondition } from './citus.js';
import { historyCtes, type Stretches } from './historyCollapse.js';
import { lockedRowsFrom, lockedRowsValues, type DuplicateRef, type LockedRow } from './batchRows.js';
import type { Reference } from './references.js';
import type { Statement } from './types.js';

export type { DuplicateRef } from './batchRows.js';
export type { Stretches } from './historyCollapse.js';

export interface CollapseRow {
  /** Rows removed (deleted, or moved into the archive). */
  removed: number;
  /** Places in the batch of the re-verified duplicates kept because a row references them. */
  referenced: number[];
  /** For each reference (in the order given), how many of those it references. */
  byReference: number[];
  /** `lockHere`: the places in the batch of the rows it locked (the others are held or gone). */
  locked: number[] | null;
  /**
   * Archive mode on Citus (judgeOnly): the places of the re-verified duplicates, locked and not
   * yet moved, and the id each repeats (text), for moveStatement (src/sql/citus.ts).
   */
  doomed?: number[];
  repeated?: string[];
}

/**
 * The CURRENT predecessor of row `t` (same key, the greatest orderBy below its own), locked
 * FOR SHARE, as a subquery for a LATERAL join selecting `columns` from it as `p`. Never SKIP
 * LOCKED here: it would pass over a locked predecessor and return an older row as if it were
 * the one before.
 *
 * `order`: read through the (key, orderBy) index. `history`: the row the statement's window
 * over the object's stretches (src/sql/historyCollapse.ts) puts before `t`, fetched by its
 * ctid; should it have changed since the statement began (updated, deleted, moved), locking
 * it finds the new version, whose ctid or values no longer match, and `t` is kept.
 */
function predecessorSubquery(plan: JobPlan, columns: string, route: string): string {
  const t = qualified(plan.job.table);
  const keys = plan.key.map((c) => ident(c.name));
  const orders = plan.orderBy.map((c) => ident(c.name));
  const before = `${keys.map((k) => `p.${k} = t.${k}`).join(' AND ')}
         AND (${orders.map((o) => `p.${o}`).join(', ')}) < (${orders.map((o) => `t.${o}`).join(', ')})
         -- as the scan: a row with a NULL orderBy column has no place in a history (a row
         -- comparison would still let (earlier, NULL) through as the predecessor)
         AND ${orders.map((o) => `p.${o} IS NOT NULL`).join(' AND ')}`;
  if (plan.predecessorLookup === 'history') {
    return `(
      SELECT ${columns} FROM ${t} p
       WHERE p.tableoid = t.sr_ptoid AND p.ctid = t.sr_ptid AND ${before}${route}
       FOR SHARE OF p
    ) p`;
  }
  return `(
      SELECT ${columns} FROM ${t} p
       WHERE ${before}${route}
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
function referencedBy(ref: Reference, row: { table: string; tid: string }): string {
  const pairs = ref.parentColumns.map(
    (column, i) => `t.${ident(column)} ${ref.operators[i]} c.${ident(ref.childColumns[i] as string)}`,
  );
  if (ref.selfReference) pairs.push(`NOT (c.tableoid = ${row.table} AND c.ctid = ${row.tid})`);
  return `EXISTS (SELECT 1 FROM ${qualified(ref.child)} c WHERE ${pairs.join(' AND ')})`;
}

/**
 * What the removing statement starts from: the rows the batch locked in a statement before
 * it (`locked`), or the duplicates as the scan found them, locked by the statement itself
 * (`lockHere`): one statement fewer, and one read of each row fewer, for a table no
 * foreign key references. With references the locks must come first, in a statement of
 * their own, so that this one's snapshot sees every referencing row committed before them.
 */
export type CollapseSource =
  { kind: 'locked'; rows: readonly LockedRow[] } | { kind: 'lockHere'; batch: readonly DuplicateRef[] };

/**
 * Removes (or archives) the rows of one batch, locked (src/sql/batchLocks.ts; CollapseSource),
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
  source: CollapseSource,
  references: readonly Reference[],
  stretches?: Stretches,
): Statement {
  // Citus sends a statement whole to a shard's worker only without an INSERT ... SELECT in it
  // (one makes Citus plan the statement in steps, and then refuse its ctid): in archive mode
  // there the statement locks and judges, and moveStatement moves in a second one.
  const judgeOnly = plan.citus !== undefined && plan.job.mode === 'archive';
  if (source.kind === 'lockHere' && references.length > 0) {
    throw new Error('a batch of a referenced table locks its rows before it removes them');
  }
  const t = qualified(plan.job.table);
  const last = ident(plan.tieBreaker.name);
  // The CTEs before `doomed`: the statement's own locks, the objects' histories.
  let ctes = '';
  let from: string;
  let where = '';
  let values: unknown[];
  // Each row to remove: its place in the batch, its partition and ctid.
  let row = { ord: 'g.ord', table: 't.tableoid', tid: 't.ctid' };
  // lockHere: the places of the rows not passed over as locked by someone else.
  let handled = 'ARRAY(SELECT g.ord FROM locked g)';
  if (plan.predecessorLookup === 'history') {
    if (stretches === undefined) throw new Error('a batch of the history lookup reads its stretches');
    const history = historyCtes(plan, stretches, source.kind === 'locked' ? source.rows : undefined);
    ctes = history.ctes;
    from = 'locked t';
    values = history.values;
    handled = history.handled;
    row = { ord: 't.sr_ord', table: 't.sr_toid', tid: 't.sr_tid' };
  } else if (source.kind === 'locked') {
    const locked = lockedRowsFrom(plan);
    from = locked.from;
    where = `${locked.where} AND `;
    values = lockedRowsValues(source.rows);
  } else {
    // The locked rows themselves stand for `t`: they carry the columns read below.
    const lock = lockedTargetsRelation(plan, source.batch);
    ctes = `locked AS MATERIALIZED (\n${lock.text}\n), `;
    from = 'locked t';
    row = { ord: 't.ord', table: 't.toid', tid: 't.tid' };
    values = lock.values;
  }
  const predecessorCompare = plan.compare.map((c, i) => `p.${ident(c.name)} AS pc${i}`);
  const sameCompare = plan.compare
    .map((c, i) => `p.pc${i} IS NOT DISTINCT FROM t.${ident(c.name)}`)
    .join(' AND ');
  const flags = references.map((ref, i) => `,\n         ${referencedBy(ref, row)} AS r${i}`).join('');
  const anyFlag = references.length === 0 ? 'false' : references.map((_, i) => `d.r${i}`).join(' OR ');
  // On Citus, every reference to the table names the batch's shard (src/sql/citus.ts).
  const batch = source.kind === 'lockHere' ? source.batch : (stretches?.batch ?? []);
  const route = (alias: string): string => routeCondition(plan, alias, batch);
  const predecessor = predecessorSubquery(
    plan,
    `${predecessorCompare.join(', ')}, p.${last} AS repeated`,
    route('p'),
  );

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
  const doomed = `
WITH ${ctes}doomed AS MATERIALIZED (
  SELECT ${row.ord} AS ord, ${row.table} AS doomed_table, ${row.tid} AS doomed_tid, p.repeated AS doomed_repeated${flags}
    FROM ${from}
    CROSS JOIN LATERAL ${predecessor}
   WHERE ${where}${sameCompare}
)`;
  const locked = source.kind === 'lockHere' ? handled : 'NULL::int4[]';
  if (judgeOnly) {
    return {
      text: `${doomed}
SELECT 0 AS removed, ARRAY[]::int4[] AS referenced, ${byReference} AS "byReference",
       ${locked} AS locked,
       ARRAY(SELECT d.ord FROM doomed d ORDER BY d.ord) AS doomed,
       ARRAY(SELECT d.doomed_repeated::text FROM doomed d ORDER BY d.ord) AS repeated`,
      values,
    };
  }
  return {
    text: `${doomed}, gone AS (
  -- Sorted, so that every duplicate is judged before the first one goes: a CTE is read as
  -- its reader pulls, and a row this statement deleted can no longer be locked as the
  -- predecessor of the next (review of #10: duplicates left in long stretches).
  DELETE FROM ${t} t USING (SELECT * FROM doomed ORDER BY doomed_table, doomed_tid) d
   WHERE t.tableoid = d.doomed_table AND t.ctid = d.doomed_tid AND NOT (${anyFlag})${route('t')}
  RETURNING ${returning}
)${archive}
SELECT (SELECT count(*) FROM gone)::int4 AS removed,
       ARRAY(SELECT d.ord FROM doomed d WHERE ${anyFlag} ORDER BY d.ord) AS referenced,
       ${byReference} AS "byReference",
       ${locked} AS locked`,
    values,
  };
}
