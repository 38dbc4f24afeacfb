/**
 * Upper bounds (seconds) of the duplicate-gap histogram. Writers' races land in the first
 * few (milliseconds: two transactions stamped moments apart); genuine repeats hours or days
 * apart land in the last ones. Shared by the run result, the stored totals and the metric.
 */
export const GAP_BUCKETS = [
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 21600, 86400, 604800,
] as const;

/** A fixed-size histogram: memory stays flat however many duplicates a pass finds. */
export class GapHistogram {
  /** counts[i]: gaps <= GAP_BUCKETS[i] and > the bucket before; the last slot is +Inf. */
  readonly counts: number[] = new Array<number>(GAP_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = GAP_BUCKETS.findIndex((le) => seconds <= le);
    if (i === -1) i = GAP_BUCKETS.length;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += seconds;
    this.count += 1;
  }
}
