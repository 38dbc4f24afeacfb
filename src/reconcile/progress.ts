import type { Shard } from '../config/shard.js';
import type { Logger } from '../log.js';
import type { RunOutcome } from '../sql/totals.js';

export interface ProgressCounts {
  rowsExamined: number;
  duplicatesFound: number;
}

/** A progress line at most every `intervalMs` on a long pass; silent on short ones. */
export class ProgressReporter {
  private readonly started = performance.now();
  private last = this.started;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 5000,
    /** Rows the pass expects to examine (pg_class.reltuples on a full pass), if known. */
    private readonly expectedRows?: number,
  ) {}

  maybeReport(counts: ProgressCounts): void {
    const now = performance.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const rate = counts.rowsExamined / seconds;
    const remaining =
      this.expectedRows !== undefined && rate > 0
        ? Math.max(0, (this.expectedRows - counts.rowsExamined) / rate)
        : undefined;
    this.log.info(
      {
        rowsExamined: counts.rowsExamined,
        rowsPerSecond: Math.round(rate),
        duplicatesFound: counts.duplicatesFound,
        ...(remaining !== undefined ? { estimatedSecondsLeft: Math.round(remaining) } : {}),
      },
      'progress',
    );
  }
}

/** What a pass has counted so far, as a watcher of its progress sees it. */
export interface PassProgressCounts extends ProgressCounts {
  duplicatesRemoved: number;
}

/** How a pass ended, as its watcher is told (a JobResult is one). */
export interface PassProgressEnd extends PassProgressCounts {
  outcome: RunOutcome;
  dryRun: boolean;
  durationSeconds: number;
  reason?: string;
}

/**
 * Follows each pass as it goes (the terminal's progress bar, src/terminal/progressBar.ts),
 * fed the same counts as the progress lines, at every chunk of the scan. Called in line with
 * the pass: its methods return at once and never throw.
 */
export interface PassProgress {
  /** A job's pass begins: its lease, checkpoint and horizon come first, then the scan. */
  passStarted(pass: { job: string; shard: Shard | undefined; dryRun: boolean }): void;
  /**
   * The scan is sent; `expectedRows`: the table's row estimate on a full pass, if it has one.
   * Its first rows come only once the server has sorted them.
   */
  scanStarted(expectedRows: number | undefined): void;
  /** After each chunk of the scan's rows. */
  progressed(counts: PassProgressCounts): void;
  /** The pass is over (success, failure or skipped), with what it did. */
  passEnded(end: PassProgressEnd): void;
}
