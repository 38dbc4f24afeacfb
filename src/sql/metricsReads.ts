import { STATE_SCHEMA } from './stateSchema.js';
import type { Statement } from './types.js';

/* What the metrics read of the given jobs from the reconciler's own tables. */

/** The running totals, one row per job that has run. */
export function jobTotalsStatement(jobs: string[]): Statement {
  return {
    text: `SELECT job, rows_examined, duplicates_found, duplicates_removed, missed_by_incremental,
            runs_success, runs_failure, runs_skipped, gap_sum, extract(epoch FROM last_success_at)::float8 AS last_success
       FROM ${STATE_SCHEMA}.totals WHERE job = ANY($1)`,
    values: [jobs],
  };
}

/** The gap histogram: a count per job and bucket upper bound `le`. */
export function jobGapBucketsStatement(jobs: string[]): Statement {
  return {
    text: `SELECT job, le, count FROM ${STATE_SCHEMA}.gap_bucket WHERE job = ANY($1)`,
    values: [jobs],
  };
}

/** Each job's latest run that was not skipped. */
export function latestRunsStatement(jobs: string[]): Statement {
  return {
    text: `SELECT DISTINCT ON (job) job, rows_examined, duplicates_found, duration_seconds, horizon_lag_seconds,
            referenced_kept, locked_skipped
       FROM ${STATE_SCHEMA}.run_history
      WHERE job = ANY($1) AND outcome <> 'skipped'
      ORDER BY job, started_at DESC, id DESC`,
    values: [jobs],
  };
}
