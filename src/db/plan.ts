import type { Job } from '../config/job.js';

/** A column of the history table, as the catalog describes it. */
export interface ColumnInfo {
  name: string;
  /** format_type(): the exact type to cast text back to, typmod included. */
  type: string;
  /** pg_type.typname, e.g. timestamptz. */
  typeName: string;
}

export type TimeType = 'timestamptz' | 'timestamp' | 'date';
export const TIME_TYPES: readonly string[] = ['timestamptz', 'timestamp', 'date'];

/** The extra columns of an archive table. */
export const ARCHIVED_AT = 'archived_at';
export const REPEATED_ID = 'repeated_id';

/**
 * A job checked against the catalog: every name exists, with its type. Built once per run
 * (src/reconcile/planJob.ts); the statements of src/sql/ take it, so the facts they share
 * are derived here once.
 */
export interface JobPlan {
  job: Job;
  columns: ColumnInfo[];
  key: ColumnInfo[];
  orderBy: ColumnInfo[];
  compare: ColumnInfo[];
  /** The first orderBy column: the timestamp (or date) the horizon applies to. */
  time: ColumnInfo;
  /** The last orderBy column: unique, it orders rows with equal times (the id archived rows repeat). */
  tieBreaker: ColumnInfo;
  timeType: TimeType;
  /** Whether the archive table already exists (archive mode only). */
  archiveExists: boolean;
  /**
   * How a batch finds each duplicate's current predecessor to re-verify it against
   * (src/sql/collapse.ts, chosen by src/reconcile/predecessorLookup.ts):
   * - `order`: the row before it in (key, orderBy) order, through an index on those columns;
   * - `tieBreaker`: without such an index, by the tie-breaker values of the rows the scan saw
   *   before it in its stretch, through a unique index on the tie-breaker.
   */
  predecessorLookup: PredecessorLookup;
}

export type PredecessorLookup = 'order' | 'tieBreaker';

/**
 * How many rows of its stretch (before it) a duplicate carries for the `tieBreaker` lookup.
 * Batches take duplicates in descending physical order (src/sql/scan.ts), so the rows before
 * a duplicate are usually still there when its batch comes; when all of these are gone by
 * then (removed by earlier batches: rows stored out of time order) it finds no predecessor
 * and is kept for a later pass, never judged against a row further back that it cannot see
 * is still the one before it. Measured at 2M rows of random statuses: none kept with 3
 * (ascending order with 8 left 27 of 527,702).
 */
export const CHAIN_LENGTH = 3;
