import { STATE_SCHEMA } from './stateSchema.js';
import type { Statement } from './types.js';

export interface CheckpointRow {
  horizon: string;
  horizonType: string;
  sameTimeZone: boolean;
}

/** The stored checkpoint, and whether it was computed in this session's TimeZone. */
export function readCheckpointStatement(job: string): Statement {
  return {
    text: `SELECT horizon, horizon_type AS "horizonType",
                  time_zone IS NOT DISTINCT FROM current_setting('TimeZone') AS "sameTimeZone"
             FROM ${STATE_SCHEMA}.checkpoint WHERE job = $1`,
    values: [job],
  };
}

/** Written only after every batch of a pass has committed: a crash before it redoes the pass. */
export function writeCheckpointStatement(job: string, horizon: string, horizonType: string): Statement {
  return {
    text: `INSERT INTO ${STATE_SCHEMA}.checkpoint AS c (job, horizon, horizon_type, time_zone, updated_at)
           VALUES ($1, $2, $3, current_setting('TimeZone'), now())
           ON CONFLICT (job) DO UPDATE SET horizon = EXCLUDED.horizon,
             horizon_type = EXCLUDED.horizon_type, time_zone = EXCLUDED.time_zone,
             updated_at = EXCLUDED.updated_at`,
    values: [job, horizon, horizonType],
  };
}
