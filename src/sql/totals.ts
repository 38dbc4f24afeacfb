import { STATE_SCHEMA } from './stateSchema.js';
import { GAP_BUCKETS } from './gapBuckets.js';
import type { Statement } from './types.js';

/** Counts a pass accumulates between two commits of its own state. */
export interface TotalsDelta {
  rowsExamined: number;
  duplicatesFound: number;
  duplicatesRemoved: number;
  missedByIncremental: number;
  gapCounts: number[];
  gapSum: number;
}

const BUCKET_BOUNDS = [...GAP_BUCKETS, Infinity];

/**
 * Adds a delta to the job's running totals. Runs inside the batch transaction that removed
 * the rows it counts, so the published counters match what was committed, crash or not.
 */
export function addTotalsStatement(job: string, delta: TotalsDelta): Statement {
  return {
    text: `
WITH t AS (
  INSERT INTO ${STATE_SCHEMA}.totals AS t
    (job, rows_examined, duplicates_found, duplicates_removed, gap_sum, missed_by_incremental)
  VALUES ($1, $2, $3, $4, $5, $8)
  ON CONFLICT (job) DO UPDATE SET
    rows_examined = t.rows_examined + EXCLUDED.rows_examined,
    duplicates_found = t.duplicates_found + EXCLUDED.duplicates_found,
    duplicates_removed = t.duplicates_removed + EXCLUDED.duplicates_removed,
    gap_sum = t.gap_sum + EXCLUDED.gap_sum,
    missed_by_incremental = t.missed_by_incremental + EXCLUDED.missed_by_incremental
  RETURNING 1
)
INSERT INTO ${STATE_SCHEMA}.gap_bucket AS g (job, le, count)
SELECT $1, b.le, b.n FROM unnest($6::float8[], $7::bigint[]) AS b(le, n) WHERE b.n > 0
ON CONFLICT (job, le) DO UPDATE SET count = g.count + EXCLUDED.count`,
    values: [
      job,
      delta.rowsExamined,
      delta.duplicatesFound,
      delta.duplicatesRemoved,
      delta.gapSum,
      BUCKET_BOUNDS.map((b) => (b === Infinity ? 'Infinity' : String(b))),
      delta.gapCounts,
      delta.missedByIncremental,
    ],
  };
}

export type RunOutcome = 'success' | 'failure' | 'skipped';

/** Counts the run itself (and, on success, when it succeeded). */
export function countRunStatement(job: string, outcome: RunOutcome): Statement {
  const column = `runs_${outcome}`;
  return {
    text: `INSERT INTO ${STATE_SCHEMA}.totals AS t (job, ${column}, last_success_at)
           VALUES ($1, 1, CASE WHEN $2 THEN now() END)
           ON CONFLICT (job) DO UPDATE SET ${column} = t.${column} + 1,
             last_success_at = CASE WHEN $2 THEN now() ELSE t.last_success_at END`,
    values: [job, outcome === 'success'],
  };
}

export interface RunRecord {
  job: string;
  startedAt: Date;
  outcome: RunOutcome;
  scope: string;
  rowsExamined: number;
  duplicatesFound: number;
  duplicatesRemoved: number;
  missedByIncremental: number;
  referencedKept: number;
  lockedSkipped: number;
  horizon: string | undefined;
  horizonLagSeconds: number | undefined;
  snapshotSeconds: number;
  durationSeconds: number;
  gapCounts: number[];
  error: string | undefined;
}

export function insertRunStatement(run: RunRecord): Statement {
  return {
    text: `INSERT INTO ${STATE_SCHEMA}.run_history
             (job, started_at, finished_at, outcome, scope, rows_examined, duplicates_found,
              duplicates_removed, horizon, horizon_lag_seconds, snapshot_seconds, duration_seconds,
              gap_counts, error, missed_by_incremental, referenced_kept, locked_skipped)
           VALUES ($1, $2, now(), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    values: [
      run.job,
      run.startedAt,
      run.outcome,
      run.scope,
      run.rowsExamined,
      run.duplicatesFound,
      run.duplicatesRemoved,
      run.horizon ?? null,
      run.horizonLagSeconds ?? null,
      run.snapshotSeconds,
      run.durationSeconds,
      run.gapCounts,
      run.error ?? null,
      run.missedByIncremental,
      run.referencedKept,
      run.lockedSkipped,
    ],
  };
}

export function pruneRunsStatement(job: string, retentionDays: number): Statement {
  return {
    text: `DELETE FROM ${STATE_SCHEMA}.run_history
            WHERE job = $1 AND started_at < now() - make_interval(days => $2)`,
    values: [job, retentionDays],
  };
}
