import type { TotalsDelta } from '../sql/totals.js';
import { GapHistogram } from './gapHistogram.js';

/** The counts a commit of the job's totals adds; removals are counted by the batch itself. */
export type UncommittedCounts = Omit<TotalsDelta, 'duplicatesRemoved'>;

/**
 * What a pass has counted: for the whole pass (the run's result) and since the last commit
 * of the job's totals. The latter are committed with the batch they lead up to, so removals
 * are never counted without their rows going (or the reverse). A run killed after a batch
 * commits examines the rows after that batch again on its next run and counts them again:
 * rows_examined and duplicates_found may over-count by at most one batch's stretch per
 * crash; duplicates_removed is exact.
 */
export class PassCounts {
  rowsExamined = 0;
  duplicatesFound = 0;
  /** Duplicates a full pass found below the stored checkpoint: incremental passes missed them. */
  missedByIncremental = 0;
  duplicatesRemoved = 0;
  batches = 0;
  /** How long the scan's read-only snapshot stayed open (it holds back vacuum meanwhile). */
  snapshotSeconds = 0;
  readonly gaps = new GapHistogram();
  private uncommitted = PassCounts.nothing();

  private static nothing(): {
    rowsExamined: number;
    duplicatesFound: number;
    missed: number;
    gaps: GapHistogram;
  } {
    return { rowsExamined: 0, duplicatesFound: 0, missed: 0, gaps: new GapHistogram() };
  }

  examined(rows: number): void {
    this.rowsExamined += rows;
    this.uncommitted.rowsExamined += rows;
  }

  /**
   * A duplicate `gapSeconds` after the row it repeats (null: a time is infinite, the gap has
   * no length and is not observed); `behind`: below the stored checkpoint on a full pass.
   */
  found(gapSeconds: number | null, behind: boolean): void {
    this.duplicatesFound += 1;
    this.uncommitted.duplicatesFound += 1;
    if (behind) {
      this.missedByIncremental += 1;
      this.uncommitted.missed += 1;
    }
    if (gapSeconds !== null) {
      this.gaps.observe(gapSeconds);
      this.uncommitted.gaps.observe(gapSeconds);
    }
  }

  /** A batch committed, removing `removed` rows. */
  committedBatch(removed: number): void {
    this.duplicatesRemoved += removed;
    this.batches += 1;
  }

  /** The counts not yet committed, to commit now; counting starts afresh. */
  takeUncommitted(): UncommittedCounts {
    const { rowsExamined, duplicatesFound, missed, gaps } = this.uncommitted;
    this.uncommitted = PassCounts.nothing();
    return {
      rowsExamined,
      duplicatesFound,
      missedByIncremental: missed,
      gapCounts: gaps.counts,
      gapSum: gaps.sum,
    };
  }
}
