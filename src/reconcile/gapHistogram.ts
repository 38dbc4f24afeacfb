import { emptyGapCounts, GAP_BUCKETS } from '../sql/gapBuckets.js';

/** A fixed-size histogram: memory stays flat however many duplicates a pass finds. */
export class GapHistogram {
  /** counts[i]: gaps <= GAP_BUCKETS[i] and > the bucket before; the last slot is +Inf. */
  readonly counts: number[] = emptyGapCounts();
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
