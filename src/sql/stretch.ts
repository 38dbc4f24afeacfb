import type { JobPlan } from '../db/plan.js';
import { ident } from '../db/quote.js';
import type { DuplicateRef } from './batchRows.js';
import type { Statement } from './types.js';

/*
 * The `history` lookup (src/reconcile/predecessorLookup.ts) without reading the whole table
 * per batch. A duplicate's current predecessor is the greatest row of its object below it;
 * the batch need not read the object's whole history to find it, only the stretch from the
 * row the duplicate repeats (`stretchFrom`, the first of its run of equal rows in the scan)
 * up to the duplicate itself:
 *
 *   Let S be every row of the object with a time in [stretchFrom, time of t] (as the
 *   statement sees the table). If some row of S lies below t, the greatest of them, m, is
 *   t's current predecessor: a row between m and t would have a time in [time of m, time of
 *   t], inside the stretch, so in S, and greater than m. If none does, the batch keeps t.
 *
 * Nothing here trusts the scan: what changed since (a row updated or inserted into the
 * stretch, the row repeated deleted) is read by the statement itself, and stretchFrom only
 * says where to look. A stretch that no longer holds a row below t keeps it (the next pass
 * judges it again). The batch reads the union of its duplicates' stretches: a few time
 * ranges, which a BRIN index on the time column turns into a bitmap of a few block ranges
 * instead of a pass over the table (measured in BENCHMARKS.md, layout `pkbrin`).
 */

/**
 * At most this many time ranges per batch: the OR of their conditions is one BitmapOr, whose
 * cost grows with their number; past it the ranges nearest to each other are joined.
 */
export const MAX_STRETCH_RANGES = 16;

/** A range of times, as text of the time column's type, both ends included. */
export interface TimeRange {
  from: string;
  to: string;
}

/**
 * The union of the batch's stretches [stretchFrom, time], as at most `MAX_STRETCH_RANGES`
 * ranges, in order: overlapping stretches merged, then the smallest gaps between the ranges
 * closed until few enough are left. (Joining two ranges covers the gap between them too:
 * more rows read, never fewer.) Computed by the server, in the column's own type and order;
 * a gap with an infinite end has no length and always stays open.
 */
export function stretchRangesStatement(plan: JobPlan, batch: readonly DuplicateRef[]): Statement {
  const type = plan.time.type;
  const gap =
    plan.timeType === 'date'
      ? 'lo - lag(hi) OVER (ORDER BY lo)'
      : 'extract(epoch FROM lo - lag(hi) OVER (ORDER BY lo))';
  return {
    text: `
WITH stretch AS (
  SELECT lo, hi FROM unnest($1::${type}[], $2::${type}[]) AS u(lo, hi)
), opening AS (
  SELECT lo, hi,
         (lo > max(hi) OVER (ORDER BY lo, hi ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) IS NOT FALSE AS opens
    FROM stretch
), merged AS (
  SELECT min(lo) AS lo, max(hi) AS hi
    FROM (SELECT lo, hi, count(*) FILTER (WHERE opens) OVER (ORDER BY lo, hi) AS g FROM opening) o
   GROUP BY g
), gaps AS (
  SELECT lo, hi, CASE WHEN isfinite(lo) AND isfinite(lag(hi) OVER (ORDER BY lo)) THEN ${gap} END AS gap
    FROM merged
), cut AS (
  SELECT lo, hi,
         gap IS NULL OR row_number() OVER (ORDER BY gap DESC NULLS LAST) < $3::int AS opens
    FROM gaps
)
SELECT min(lo)::text AS "from", max(hi)::text AS "to"
  FROM (SELECT lo, hi, count(*) FILTER (WHERE opens) OVER (ORDER BY lo) AS g FROM cut) c
 GROUP BY g
 ORDER BY min(lo)`,
    values: [
      batch.map((d) => d.stretchFrom ?? '-infinity'),
      batch.map((d) => d.orderBy[0]),
      MAX_STRETCH_RANGES,
    ],
  };
}

/**
 * The condition on `h` (the history table) that keeps the rows of some time ranges, with
 * their bounds as parameters from $first on.
 */
export function inRanges(
  plan: JobPlan,
  ranges: readonly TimeRange[],
  first: number,
): { condition: string; values: string[] } {
  const time = `h.${ident(plan.time.name)}`;
  const type = plan.time.type;
  return {
    condition: `(${ranges
      .map((_, i) => `${time} BETWEEN $${first + 2 * i}::${type} AND $${first + 2 * i + 1}::${type}`)
      .join(' OR ')})`,
    values: ranges.flatMap((r) => [r.from, r.to]),
  };
}
