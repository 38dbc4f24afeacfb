/**
 * Upper bounds (seconds) of the duplicate-gap histogram. Writers' races land in the first
 * few (milliseconds: two transactions stamped moments apart); genuine repeats hours or days
 * apart land in the last ones. They are the `le` values of the stored gap_bucket rows, so
 * they live with the SQL; the run result, the metric and `status` read them from here.
 */
export const GAP_BUCKETS = [
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 21600, 86400, 604800,
] as const;

/** An empty count per bucket plus +Inf. */
export function emptyGapCounts(): number[] {
  return new Array<number>(GAP_BUCKETS.length + 1).fill(0);
}
