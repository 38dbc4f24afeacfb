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
  duplicatesRemoved = 0;
  batches = 0;
  /** How long the scan's read-only snapshot stayed open (it holds back vacuum meanwhile). */
  snapshotSeconds = 0;
  readonly gaps = new GapHistogram();
  private uncommitted = { rowsExamined: 0, duplicatesFound: 0, gaps: new GapHistogram() };

  examined(rows: number): void {
    this.rowsExamined += rows;
    this.uncommitted.rowsExamined += rows;
  }

  /** A duplicate `gapSeconds` after the row it repeats. */
  found(gapSeconds: number): void {
    this.duplicatesFound += 1;
    this.gaps.observe(gapSeconds);
    this.uncommitted.duplicatesFound += 1;
    this.uncommitted.gaps.observe(gapSeconds);
  }

  /** A batch committed, removing `removed` rows. */
  committedBatch(removed: number): void {
    this.duplicatesRemoved += removed;
    this.batches += 1;
  }

  /** The counts not yet committed, to commit now; counting starts afresh. */
  takeUncommitted(): UncommittedCounts {
    const { rowsExamined, duplicatesFound, gaps } = this.uncommitted;
    this.uncommitted = { rowsExamined: 0, duplicatesFound: 0, gaps: new GapHistogram() };
    return { rowsExamined, duplicatesFound, gapCounts: gaps.counts, gapSum: gaps.sum };
  }
}
