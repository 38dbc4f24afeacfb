import { STATE_SCHEMA } from './stateSchema.js';
import type { Statement } from './types.js';

export interface CheckpointRow {
  horizon: string;
  horizonType: string;
  /** Whether it was computed in this session's TimeZone. */
  sameTimeZone: boolean;
  /** The job definition it was taken under (src/reconcile/definition.ts); null before 000004. */
  definition: string | null;
  /** Seconds since the job's last completed full pass; null if none is recorded. */
  sinceFullPass: number | null;
}

/** The stored checkpoint, with what it takes to judge whether it still applies. */
export function readCheckpointStatement(job: string): Statement {
  return {
    text: `SELECT horizon, horizon_type AS "horizonType",
                  time_zone IS NOT DISTINCT FROM current_setting('TimeZone') AS "sameTimeZone",
                  definition,
                  extract(epoch FROM now() - full_pass_at)::float8 AS "sinceFullPass"
             FROM ${STATE_SCHEMA}.checkpoint WHERE job = $1`,
    values: [job],
  };
}

export interface CheckpointWrite {
  job: string;
  horizon: string;
  horizonType: string;
  definition: string;
  /** A full pass completed: `fullEvery` counts from now. */
  fullPass: boolean;
}

/** Written only after every batch of a pass has committed: a crash before it redoes the pass. */
export function writeCheckpointStatement(checkpoint: CheckpointWrite): Statement {
  return {
    text: `INSERT INTO ${STATE_SCHEMA}.checkpoint AS c
             (job, horizon, horizon_type, time_zone, definition, full_pass_at, updated_at)
           VALUES ($1, $2, $3, current_setting('TimeZone'), $4, CASE WHEN $5 THEN now() END, now())
           ON CONFLICT (job) DO UPDATE SET horizon = EXCLUDED.horizon,
             horizon_type = EXCLUDED.horizon_type, time_zone = EXCLUDED.time_zone,
             definition = EXCLUDED.definition,
             full_pass_at = CASE WHEN $5 THEN now() ELSE c.full_pass_at END,
             updated_at = EXCLUDED.updated_at`,
    values: [
      checkpoint.job,
      checkpoint.horizon,
      checkpoint.horizonType,
      checkpoint.definition,
      checkpoint.fullPass,
    ],
  };
}
