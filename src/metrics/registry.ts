import { Registry, type Metric } from 'prom-client';
import { GAP_BUCKETS } from '../sql/gapBuckets.js';
import type { JobMetrics } from './snapshot.js';

export const METRIC_PREFIX = 'status_reconciler_';
export const JOB_LABEL = 'reconcile_job';

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/*
 * The values are totals stored in the database, not increments seen by this process, so
 * each metric is a prom-client custom metric whose get() reports the stored value as is.
 * prom-client still does the exposition format, escaping, content type and the push.
 */
function stored(
  name: string,
  help: string,
  type: 'counter' | 'gauge' | 'histogram',
  samples: () => Sample[],
): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: samples() }),
  };
  return metric as unknown as Metric;
}

export const SHARD_LABEL = 'shard';

/** The labels of a job's series: its name, and its shard when it is one (summed in PromQL). */
export function labelsOf(m: JobMetrics): Record<string, string> {
  return m.shard === undefined
    ? { [JOB_LABEL]: m.job }
    : { [JOB_LABEL]: m.job, [SHARD_LABEL]: String(m.shard) };
}

/** A registry holding every metric of the design brief for the given jobs. */
export function buildRegistry(jobs: JobMetrics[]): Registry {
  const registry = new Registry();
  const each = (value: (m: JobMetrics) => number | undefined): Sample[] =>
    jobs.flatMap((m) => {
      const v = value(m);
      return v === undefined ? [] : [{ labels: labelsOf(m), value: v }];
    });
  const add = (metric: Metric): void => registry.registerMetric(metric);

  add(
    stored(
      `${METRIC_PREFIX}rows_examined_total`,
      'Rows judged by completed batches and passes, across all runs.',
      'counter',
      () => each((m) => m.rowsExamined),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}duplicates_found_total`,
      'Consecutive duplicate statuses found (rows that repeat the status before them), across all runs.',
      'counter',
      () => each((m) => m.duplicatesFound),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}duplicates_removed_total`,
      'Duplicates removed or archived after re-verification, across all runs.',
      'counter',
      () => each((m) => m.duplicatesRemoved),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}duplicates_missed_by_incremental_total`,
      'Duplicates a full pass found below the checkpoint, which incremental passes had missed (stragglers: a middle row deleted, a row committed after the horizon passed its time), across all runs.',
      'counter',
      () => each((m) => m.missedByIncremental),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}runs_total`,
      'Runs by outcome (success, failure, skipped), across all runs.',
      'counter',
      () =>
        jobs.flatMap((m) =>
          (['success', 'failure', 'skipped'] as const).map((outcome) => ({
            labels: { ...labelsOf(m), outcome },
            value: m.runs[outcome],
          })),
        ),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}collision_ratio`,
      'Duplicates found divided by rows examined, in the last run that was not skipped.',
      'gauge',
      () => each((m) => m.lastRun?.collisionRatio),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}duplicate_gap_seconds`,
      'Time between a duplicate and the row it repeats: milliseconds is a writers race, hours a genuine repeat.',
      'histogram',
      () =>
        jobs.flatMap((m) => {
          const bounds: (number | string)[] = [...GAP_BUCKETS, '+Inf'];
          let cumulative = 0;
          const buckets = bounds.map((le, i) => {
            cumulative += m.gapCounts[i] ?? 0;
            return {
              metricName: `${METRIC_PREFIX}duplicate_gap_seconds_bucket`,
              labels: { ...labelsOf(m), le },
              value: cumulative,
            };
          });
          return [
            ...buckets,
            {
              metricName: `${METRIC_PREFIX}duplicate_gap_seconds_sum`,
              labels: labelsOf(m),
              value: m.gapSum,
            },
            {
              metricName: `${METRIC_PREFIX}duplicate_gap_seconds_count`,
              labels: labelsOf(m),
              value: cumulative,
            },
          ];
        }),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}run_duration_seconds`,
      'Duration of the last run that was not skipped.',
      'gauge',
      () => each((m) => m.lastRun?.durationSeconds),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}last_success_timestamp_seconds`,
      'Unix time of the last successful run.',
      'gauge',
      () => each((m) => m.lastSuccessSeconds),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}horizon_lag_seconds`,
      'Now minus the settle horizon in the last run: a long transaction somewhere holds reconciliation back.',
      'gauge',
      () => each((m) => m.lastRun?.horizonLagSeconds),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}duplicates_referenced_kept`,
      'Duplicates the last run kept because rows of other tables reference them through a foreign key (never cascaded into).',
      'gauge',
      () => each((m) => m.lastRun?.referencedKept),
    ),
  );
  add(
    stored(
      `${METRIC_PREFIX}duplicates_locked_skipped`,
      'Duplicates the last run passed over because another session held them or their predecessor locked past lockTimeoutMs; the next run retries them.',
      'gauge',
      () => each((m) => m.lastRun?.lockedSkipped),
    ),
  );
  return registry;
}
