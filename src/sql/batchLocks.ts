import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { sameRow, type DuplicateRef } from './batchRows.js';
import { routeCondition } from './citus.js';
import type { Statement } from './types.js';

/*
 * The locks a batch takes before it removes anything: its tables, then its duplicates,
 * without waiting for one (SKIP LOCKED), so that a duplicate an application holds locked is
 * passed over at once instead of failing the batch at lock_timeout. The duplicates' locks
 * are a statement of their own when foreign keys reference the table, else the first step
 * of the removing statement (src/sql/collapse.ts). (Predecessors are locked by the removal
 * itself, and waited for.)
 */

/**
 * First: the tables the batch writes, in the mode its DELETE (and INSERT into the archive)
 * takes anyway. A table-level lock held by someone else (DDL, a CREATE INDEX) then makes this
 * statement wait (up to lock_timeout), and not a later one that is waited on for rows; and
 * a foreign key being added to a referencing table (SHARE ROW EXCLUSIVE on this one) is
 * either committed before it, and read by the batch, or waits for the batch to end.
 */
export function lockTablesStatement(plan: JobPlan): Statement {
  const tables = [plan.job.table, ...(plan.job.mode === 'archive' ? [plan.job.archiveTable!] : [])];
  return { text: `LOCK TABLE ${tables.map(qualified).join(', ')} IN ROW EXCLUSIVE MODE`, values: [] };
}

/**
 * The batch's duplicates as a relation `b` (ord, k0..., o0..., toid, tid: the scan's
 * partition and ctid) and the values of its $n.
 */
function batchRelation(
  plan: JobPlan,
  batch: readonly DuplicateRef[],
): { relation: string; values: unknown[]; tids: string } {
  const columns = ['ord', ...plan.key.map((_, i) => `k${i}`), ...plan.orderBy.map((_, i) => `o${i}`)];
  const arrays = ['$1::int4[]', ...[...plan.key, ...plan.orderBy].map((c, i) => `$${i + 2}::${c.type}[]`)];
  const n = arrays.length;
  return {
    relation: `unnest(${arrays.join(', ')}, $${n + 1}::oid[], $${n + 2}::tid[]) AS b(${columns.join(', ')}, toid, tid)`,
    values: [
      batch.map((_, i) => i),
      ...plan.key.map((_, i) => batch.map((d) => d.key[i])),
      ...plan.orderBy.map((_, i) => batch.map((d) => d.orderBy[i])),
      batch.map((d) => d.table),
      batch.map((d) => d.tid),
    ],
    tids: `$${n + 2}::tid[]`,
  };
}

/**
 * Locks the batch's duplicates FOR UPDATE, SKIP LOCKED: one an application holds locked (or
 * a transaction inserting a row that references it, which holds it FOR KEY SHARE) is left
 * out without waiting. FOR UPDATE, the lock a DELETE takes, also makes any later insert of a
 * row referencing it wait for this batch. Returns the rows locked, by their place in the
 * batch; a duplicate not among them is locked by someone else or gone (presentStatement).
 *
 * Each is found where the scan saw it, by partition and ctid (a TID scan: no index probe),
 * and only if the row there still has the key and orderBy values the scan read. A row
 * updated since has moved to another ctid and is not found: it is left for the next pass
 * (presentStatement tells whether it is still there, by its values). Also the removing
 * statement's first step when no foreign key references the table (src/sql/collapse.ts).
 */
export function lockTargetsStatement(plan: JobPlan, batch: readonly DuplicateRef[]): Statement {
  return lockTargets(plan, batch, 't.tableoid::text AS table, t.ctid::text AS tid');
}

/**
 * The same locks as a relation for the removing statement itself (src/sql/collapse.ts,
 * `lockHere`): each locked row's place, partition (toid) and ctid (tid), and the
 * columns the re-verification reads (key, orderBy, compare) under their own names, so that
 * it need not fetch the row again.
 */
export function lockedTargetsRelation(plan: JobPlan, batch: readonly DuplicateRef[]): Statement {
  const columns = [...new Set([...plan.key, ...plan.orderBy, ...plan.compare].map((c) => ident(c.name)))];
  return lockTargets(
    plan,
    batch,
    `t.tableoid AS toid, t.ctid AS tid, ${columns.map((c) => `t.${c}`).join(', ')}`,
  );
}

function lockTargets(plan: JobPlan, batch: readonly DuplicateRef[], columns: string): Statement {
  const { relation, values, tids } = batchRelation(plan, batch);
  return {
    text: `SELECT b.ord, ${columns}
  FROM ${relation} JOIN ${qualified(plan.job.table)} t
    ON t.tableoid = b.toid AND t.ctid = b.tid AND ${sameRow(plan, 'b')}
 WHERE t.ctid = ANY (${tids})${routeCondition(plan, 't', batch)}
   FOR UPDATE OF t SKIP LOCKED`,
    values,
  };
}

/**
 * Of some duplicates (by place in `batch`), those still in the table: run for the ones the
 * batch could not lock, it tells those another session holds from those gone since the scan.
 */
export function presentStatement(plan: JobPlan, batch: readonly DuplicateRef[]): Statement {
  const { relation, values } = batchRelation(plan, batch);
  return {
    text: `SELECT b.ord FROM ${relation}
 WHERE EXISTS (SELECT 1 FROM ${qualified(plan.job.table)} t WHERE ${sameRow(plan, 'b')}${routeCondition(plan, 't', batch)})`,
    values,
  };
}

/** The earliest of some values of the first orderBy column (text in, text out, in its type). */
export function earliestTimeStatement(plan: JobPlan, times: readonly string[]): Statement {
  return {
    text: `SELECT min(x)::text AS earliest FROM unnest($1::${plan.time.type}[]) AS u(x)`,
    values: [times],
  };
}

/**
 * What a batch re-reads of the table once it holds it ROW EXCLUSIVE, since both may have
 * changed after the run planned the job: whether row-level security is active for the role
 * (ENABLE ROW LEVEL SECURITY and CREATE POLICY take ACCESS EXCLUSIVE, so they either
 * committed before the lock or wait for the batch), and the table's columns in order
 * (ALTER TABLE ADD COLUMN likewise): an archive INSERT listing the planned columns would
 * leave a new column's values behind.
 */
export function tableStateStatement(plan: JobPlan): Statement {
  return {
    text: `SELECT row_security_active($1::regclass) AS "rowSecurity",
            ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
                   ORDER BY a.attnum) AS columns`,
    values: [qualified(plan.job.table)],
  };
}
