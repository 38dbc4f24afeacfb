import type { Logger } from '../log.js';

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
