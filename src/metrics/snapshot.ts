import { stateKey, type Shard } from '../config/shard.js';
import type pg from 'pg';
import { stateSchemaExistsStatement } from '../sql/stateSchema.js';
import { GAP_BUCKETS } from '../sql/gapBuckets.js';
import { jobGapBucketsStatement, jobTotalsStatement, latestRunsStatement } from '../sql/metricsReads.js';

/** What the metrics of one job say, read from the reconciler's own tables. */
export interface JobMetrics {
  job: string;
  /** The shard (src/config/shard.ts) whose series these are: a `shard` label; undefined: none. */
  shard?: number;
  rowsExamined: number;
  duplicatesFound: number;
  duplicatesRemoved: number;
  /** Duplicates full passes found that incremental passes had missed. */
  missedByIncremental: number;
  runs: { success: number; failure: number; skipped: number };
  /** Per bucket of GAP_BUCKETS plus +Inf, not cumulative. */
  gapCounts: number[];
  gapSum: number;
  lastSuccessSeconds: number | undefined;
  /** From the latest run that was not skipped. */
  lastRun:
    | {
        collisionRatio: number;
        durationSeconds: number;
        horizonLagSeconds: number | undefined;
        /** Duplicates kept because rows reference them through a foreign key. */
        referencedKept: number;
        /** Duplicates passed over because another session held them locked. */
        lockedSkipped: number;
      }
    | undefined;
}

export function emptyJobMetrics(job: string): JobMetrics {
  return {
    job,
    rowsExamined: 0,
    duplicatesFound: 0,
    duplicatesRemoved: 0,
    missedByIncremental: 0,
    runs: { success: 0, failure: 0, skipped: 0 },
    gapCounts: new Array<number>(GAP_BUCKETS.length + 1).fill(0),
    gapSum: 0,
    lastSuccessSeconds: undefined,
    lastRun: undefined,
  };
}

interface TotalsRow {
  job: string;
  rows_examined: string;
  duplicates_found: string;
  duplicates_removed: string;
  missed_by_incremental: string;
  runs_success: string;
  runs_failure: string;
  runs_skipped: string;
  gap_sum: number;
  last_success: number | null;
}

/** Whose metrics: a job by name (all of its objects), or one shard of it. */
export type MetricsSubject = string | { job: string; shard?: Shard };

/** Reads the totals of the given jobs or shards (zeros for one that never ran). */
export async function readJobMetrics(
  client: pg.ClientBase,
  subjects: MetricsSubject[],
): Promise<JobMetrics[]> {
  const byJob = new Map(
    subjects.map((subject) => {
      const { job, shard } = typeof subject === 'string' ? { job: subject, shard: undefined } : subject;
      const metrics = emptyJobMetrics(job);
      if (shard !== undefined) metrics.shard = shard.index;
      return [stateKey(job, shard), metrics];
    }),
  );
  const jobs = [...byJob.keys()];
  if ((await client.query(stateSchemaExistsStatement())).rowCount === 0) return [...byJob.values()];

  const totals = await client.query<TotalsRow>(jobTotalsStatement(jobs));
  for (const row of totals.rows) {
    const m = byJob.get(row.job);
    if (!m) continue;
    m.rowsExamined = Number(row.rows_examined);
    m.duplicatesFound = Number(row.duplicates_found);
    m.duplicatesRemoved = Number(row.duplicates_removed);
    m.missedByIncremental = Number(row.missed_by_incremental);
    m.runs = {
      success: Number(row.runs_success),
      failure: Number(row.runs_failure),
      skipped: Number(row.runs_skipped),
    };
    m.gapSum = row.gap_sum;
    m.lastSuccessSeconds = row.last_success ?? undefined;
  }

  const buckets = await client.query<{ job: string; le: number; count: string }>(
    jobGapBucketsStatement(jobs),
  );
  const bounds: number[] = [...GAP_BUCKETS, Infinity];
  for (const row of buckets.rows) {
    const m = byJob.get(row.job);
    const i = bounds.indexOf(row.le);
    if (m && i >= 0) m.gapCounts[i] = Number(row.count);
  }

  const lastRuns = await client.query<{
    job: string;
    rows_examined: string;
    duplicates_found: string;
    duration_seconds: number;
    horizon_lag_seconds: number | null;
    referenced_kept: string;
    locked_skipped: string;
  }>(latestRunsStatement(jobs));
  for (const row of lastRuns.rows) {
    const m = byJob.get(row.job);
    if (!m) continue;
    const examined = Number(row.rows_examined);
    m.lastRun = {
      collisionRatio: examined > 0 ? Number(row.duplicates_found) / examined : 0,
      durationSeconds: row.duration_seconds,
      horizonLagSeconds: row.horizon_lag_seconds ?? undefined,
      referencedKept: Number(row.referenced_kept),
      lockedSkipped: Number(row.locked_skipped),
    };
  }
  return [...byJob.values()];
}
