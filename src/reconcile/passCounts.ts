import type { DuplicateRef } from '../sql/batchRows.js';
import type { Reference } from '../sql/references.js';
import type { TotalsDelta } from '../sql/totals.js';
import { GapHistogram } from './gapHistogram.js';

/** How many rows of each kind a pass keeps to name in its warnings (src/reconcile/blockedRows.ts). */
export const SAMPLE_ROWS = 10;

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
  /**
   * Duplicates kept because rows of a table with a foreign key to this one reference them:
   * never deleted (an ON DELETE action would reach that table). Not retried by the next
   * incremental pass; the next full pass (fullEvery) judges them again.
   */
  referencedKept = 0;
  /**
   * Duplicates left for the next run because another session held them (or their
   * predecessor) locked past what a batch waits. The checkpoint stays at or below
   * `earliestSkipped`, the earliest first-orderBy value among them, so the next incremental
   * pass judges them again.
   */
  lockedSkipped = 0;
  earliestSkipped: string | undefined;
  /** A few of each, named in the pass's warnings. */
  readonly lockedSamples: DuplicateRef[] = [];
  readonly referencedSamples: DuplicateRef[] = [];
  /** Referenced duplicates kept, per foreign key (by constraint and child table). */
  readonly keptByReference = new Map<string, { reference: Reference; rows: number }>();
  batches = 0;
  /** The longest write transaction of the pass (one attempt at a batch), in seconds. */
  longestBatchSeconds = 0;
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

  /** Duplicates a committed batch left out, locked by another session. */
  skippedLocked(rows: readonly DuplicateRef[]): void {
    this.lockedSkipped += rows.length;
    this.lockedSamples.push(...rows.slice(0, Math.max(0, SAMPLE_ROWS - this.lockedSamples.length)));
  }

  /** Duplicates left out before, removed (or kept, or found gone) when tried again. */
  resolvedSkipped(rows: readonly DuplicateRef[]): void {
    this.lockedSkipped -= rows.length;
    const resolved = new Set(rows);
    const samples = this.lockedSamples.filter((d) => !resolved.has(d));
    this.lockedSamples.splice(0, this.lockedSamples.length, ...samples);
  }

  /** Duplicates a committed batch kept because rows reference them, and by which reference. */
  keptReferenced(
    rows: readonly DuplicateRef[],
    byReference: readonly { reference: Reference; rows: number }[],
  ): void {
    this.referencedKept += rows.length;
    this.referencedSamples.push(...rows.slice(0, Math.max(0, SAMPLE_ROWS - this.referencedSamples.length)));
    for (const { reference, rows: n } of byReference) {
      if (n === 0) continue;
      const id = `${reference.child.schema}.${reference.child.name}.${reference.constraint}`;
      const kept = this.keptByReference.get(id) ?? { reference, rows: 0 };
      kept.rows += n;
      this.keptByReference.set(id, kept);
    }
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
