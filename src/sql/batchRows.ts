import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';

/*
 * Pieces the statements of one batch share (src/sql/batchLocks.ts, src/sql/collapse.ts).
 * Rows are addressed two ways: a duplicate the scan found by its key and orderBy values (as
 * text, cast back exactly), and a row this batch has locked by its partition and ctid (stable
 * while the lock is held: nobody else can update or delete the row until the batch ends).
 */

/** One duplicate found by the scan: its key and orderBy values, as text, and where it was. */
export interface DuplicateRef {
  key: string[];
  orderBy: string[];
  /** Its partition (oid) and ctid in the scan's snapshot: the batch locks it by them. */
  table: string;
  tid: string;
  /**
   * `history` lookup: the time (first orderBy column, as text) of the first row of its run of
   * equal rows in the scan, from which its batch re-reads its object (src/sql/stretch.ts).
   * Absent or null: from the beginning of time (the object's whole history).
   */
  stretchFrom?: string | null;
}

/** A row the batch holds locked FOR UPDATE: its place in the batch, its partition and its ctid. */
export interface LockedRow {
  ord: number;
  table: string;
  tid: string;
}

/** The values of `lockedRowsFrom`'s $1..$3: the locked rows' places, partitions and ctids. */
export function lockedRowsValues(rows: readonly LockedRow[]): unknown[] {
  return [rows.map((r) => r.ord), rows.map((r) => r.table), rows.map((r) => r.tid)];
}

/**
 * FROM the locked rows (values $1..$4 from lockedRowsValues) joined to the history table as
 * `t`, one row each: by partition and ctid, which the ctid = ANY makes a TID scan.
 */
export function lockedRowsFrom(plan: JobPlan): { from: string; where: string } {
  return {
    from: `unnest($1::int4[], $2::oid[], $3::tid[]) AS g(ord, toid, tid)
    JOIN ${qualified(plan.job.table)} t ON t.tableoid = g.toid AND t.ctid = g.tid`,
    where: 't.ctid = ANY ($3::tid[])',
  };
}

/**
 * `t` is the row the scan found as `alias`: the same key and orderBy values, given as
 * k0... and o0... (the batch's arrays unnested under those names).
 */
export function sameRow(plan: JobPlan, alias: string): string {
  return [
    ...plan.key.map((c, i) => `t.${ident(c.name)} = ${alias}.k${i}`),
    ...plan.orderBy.map((c, i) => `t.${ident(c.name)} = ${alias}.o${i}`),
  ].join(' AND ');
}
