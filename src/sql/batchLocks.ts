import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import type { DuplicateRef } from './batchRows.js';
import type { Statement } from './types.js';

/*
 * The locks a batch takes before it removes anything, each in a statement of its own: its
 * tables, then its duplicates, without waiting for one (SKIP LOCKED), so that a duplicate an
 * application holds locked is passed over at once instead of failing the batch at
 * lock_timeout. (Predecessors are locked by the removal itself, and waited for: see
 * src/sql/collapse.ts.)
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

/** The batch's duplicates as a relation `b` (ord, k0..., o0...) and the values of its $n. */
function batchRelation(
  plan: JobPlan,
  batch: readonly DuplicateRef[],
): { relation: string; values: unknown[] } {
  const columns = ['ord', ...plan.key.map((_, i) => `k${i}`), ...plan.orderBy.map((_, i) => `o${i}`)];
  const arrays = ['$1::int4[]', ...[...plan.key, ...plan.orderBy].map((c, i) => `$${i + 2}::${c.type}[]`)];
  return {
    relation: `unnest(${arrays.join(', ')}) AS b(${columns.join(', ')})`,
    values: [
      batch.map((_, i) => i),
      ...plan.key.map((_, i) => batch.map((d) => d.key[i])),
      ...plan.orderBy.map((_, i) => batch.map((d) => d.orderBy[i])),
    ],
  };
}

/** `t` is the row the scan found as `b`: same key and orderBy values. */
function sameRow(plan: JobPlan): string {
  return [
    ...plan.key.map((c, i) => `t.${ident(c.name)} = b.k${i}`),
    ...plan.orderBy.map((c, i) => `t.${ident(c.name)} = b.o${i}`),
  ].join(' AND ');
}

/**
 * Locks the batch's duplicates FOR UPDATE, SKIP LOCKED: one an application holds locked (or
 * a transaction inserting a row that references it, which holds it FOR KEY SHARE) is left
 * out without waiting. FOR UPDATE, the lock a DELETE takes, also makes any later insert of a
 * row referencing it wait for this batch. Returns the rows locked, by their place in the
 * batch; a duplicate not among them is locked by someone else or gone (presentStatement).
 */
export function lockTargetsStatement(plan: JobPlan, batch: readonly DuplicateRef[]): Statement {
  const { relation, values } = batchRelation(plan, batch);
  return {
    text: `SELECT b.ord, t.tableoid::text AS table, t.ctid::text AS tid
  FROM ${relation} JOIN ${qualified(plan.job.table)} t ON ${sameRow(plan)}
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
 WHERE EXISTS (SELECT 1 FROM ${qualified(plan.job.table)} t WHERE ${sameRow(plan)})`,
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
