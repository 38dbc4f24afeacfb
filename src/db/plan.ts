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
   * - `history`: without such an index, the batch re-reads the whole histories of its
   *   duplicates' objects in one pass over the table and takes the row before each there.
   */
  predecessorLookup: PredecessorLookup;
  /**
   * The table is distributed by Citus (src/sql/citus.ts) by this column of the key (its place
   * in `key`): every batch is split by shard and routed to it. Undefined: plain PostgreSQL.
   */
  citus?: { column: ColumnInfo; keyIndex: number };
}

export type PredecessorLookup = 'order' | 'history';
