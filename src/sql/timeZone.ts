import type { Statement } from './types.js';

/**
 * The times a zone's clocks go back within the next `days` days: the zone's UTC offset is
 * sampled every `stepMinutes` from the current UTC hour on, and each sample whose offset is
 * lower than the one before is a backward shift. Zone changes fall on quarter hours of UTC,
 * so with a 15-minute step the sample is the moment of the change itself.
 *
 * `timeZone` null means the session's TimeZone (the database's default when nothing set
 * it). One row per shift, in time order; with none, a single row whose shift columns are
 * null, so the zone in force is always returned.
 *
 * - `zone`: the zone the samples were taken in.
 * - `atUtc`: the moment of the change, in UTC (YYYY-MM-DD HH24:MI).
 * - `repeatFrom`, `repeatTo`: the local times that occur twice (date and time, then time).
 * - `shiftSeconds`: how far the clocks go back.
 */
export function backwardShiftsStatement(
  timeZone: string | undefined,
  days: number,
  stepMinutes: number,
): Statement {
  return {
    text: `
WITH zone AS (SELECT coalesce($1::text, current_setting('TimeZone')) AS name),
sample AS (
  SELECT t, (t AT TIME ZONE zone.name) - (t AT TIME ZONE 'UTC') AS utc_offset
    FROM zone, generate_series(date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                               now() + make_interval(days => $2), make_interval(mins => $3)) AS t
), step AS (
  SELECT t, utc_offset, lag(utc_offset) OVER (ORDER BY t) AS before FROM sample
)
SELECT zone.name AS zone,
       to_char(step.t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS "atUtc",
       to_char(step.t AT TIME ZONE zone.name, 'YYYY-MM-DD HH24:MI') AS "repeatFrom",
       to_char((step.t AT TIME ZONE zone.name) + (step.before - step.utc_offset), 'HH24:MI') AS "repeatTo",
       extract(epoch FROM step.before - step.utc_offset)::int AS "shiftSeconds"
  FROM zone LEFT JOIN step ON step.utc_offset < step.before
 ORDER BY step.t`,
    values: [timeZone ?? null, days, stepMinutes],
  };
}

export interface BackwardShiftRow {
  zone: string;
  atUtc: string | null;
  repeatFrom: string | null;
  repeatTo: string | null;
  shiftSeconds: number | null;
}
