import { STATE_SCHEMA } from './stateSchema.js';
import type { Statement } from './types.js';
import { isShardStateOf } from './shard.js';

/* What `status` reads of one job from the reconciler's own tables. */

const RUN_HISTORY = `${STATE_SCHEMA}.run_history`;

/** The job's latest `limit` runs, newest first. */
export function recentRunsStatement(job: string, limit: number): Statement {
  return {
    text: `SELECT started_at, outcome, scope, rows_examined, duplicates_found, duplicates_removed,
              duration_seconds, horizon_lag_seconds, error
         FROM ${RUN_HISTORY} WHERE job = $1 ORDER BY started_at DESC, id DESC LIMIT $2`,
    values: [job, limit],
  };
}

/** `window` 'day' then 'week': rows examined and duplicates found by the runs in it that were not skipped. */
export function collisionWindowsStatement(job: string): Statement {
  return {
    text: `SELECT w.period AS "window", coalesce(sum(r.rows_examined), 0)::text AS examined,
              coalesce(sum(r.duplicates_found), 0)::text AS found
         FROM (VALUES ('day', interval '1 day'), ('week', interval '7 days')) AS w(period, span)
         LEFT JOIN ${RUN_HISTORY} r ON r.job = $1 AND r.started_at > now() - w.span AND r.outcome <> 'skipped'
        GROUP BY w.period ORDER BY min(w.span)`,
    values: [job],
  };
}

/** `at`: when the job last succeeded (no row for a job that never ran). */
export function lastSuccessStatement(job: string): Statement {
  return { text: `SELECT last_success_at AS at FROM ${STATE_SCHEMA}.totals WHERE job = $1`, values: [job] };
}

/** `i` (1-based position in gap_counts) and `n`: the duplicate gaps of the last week of runs. */
export function weekGapCountsStatement(job: string): Statement {
  return {
    text: `SELECT u.i::text AS i, sum(u.c)::text AS n
       FROM ${RUN_HISTORY} r, unnest(r.gap_counts) WITH ORDINALITY AS u(c, i)
      WHERE r.job = $1 AND r.started_at > now() - interval '7 days'
      GROUP BY u.i`,
    values: [job],
  };
}

/**
 * The shard state keys of a job (src/config/shard.ts) that have run: `status` without a shard
 * shows each, since every shard keeps its own history.
 */
export function shardKeysStatement(job: string): Statement {
  return {
    text: `SELECT DISTINCT job FROM ${RUN_HISTORY}
            WHERE ${isShardStateOf('job', '$1')} ORDER BY job`,
    values: [job],
  };
}
