import type { Shard } from '../config/shard.js';
import type { Logger } from '../log.js';
import type { RunOutcome } from '../sql/totals.js';
import type { GapHistogram } from './gapHistogram.js';
import type { PassProgress } from './progress.js';

export interface RunOptions {
  dryRun: boolean;
  full: boolean;
  logger: Logger;
  /** Aborting stops the pass after the batch in hand; the checkpoint is then not advanced. */
  signal?: AbortSignal;
  /** Days of run_history to keep (default 30). */
  historyDays?: number;
  /** Told of each pass as it goes (the terminal's progress bar). */
  progress?: PassProgress;
}

export const DEFAULT_HISTORY_DAYS = 30;

/** 'full' judges every object; 'incremental' only those with rows since the checkpoint. */
export type Scope = 'full' | 'incremental';

/** What one pass of one job did; the source of the summary log line, run history and metrics. */
export interface JobResult {
  job: string;
  /** The shard of the job's objects this run took; undefined: all of them. */
  shard: Shard | undefined;
  outcome: RunOutcome;
  dryRun: boolean;
  scope: Scope;
  rowsExamined: number;
  duplicatesFound: number;
  duplicatesRemoved: number;
  /** Duplicates kept because rows of other tables reference them (foreign keys); never deleted. */
  referencedKept: number;
  /** Duplicates skipped because other sessions held them (or their predecessor) locked; retried next run. */
  lockedSkipped: number;
  /** Duplicates a full pass found below the stored checkpoint: the incremental passes missed them. */
  missedByIncremental: number;
  batches: number;
  /** The longest write transaction of the pass (one attempt at a batch), in seconds. */
  longestBatchSeconds: number;
  horizon: string | undefined;
  horizonLagSeconds: number | undefined;
  /** Where the incremental pass started (the stored checkpoint); undefined on a full pass. */
  checkpoint: string | undefined;
  /** How long the scan's read-only snapshot stayed open (it holds back vacuum meanwhile). */
  snapshotSeconds: number;
  durationSeconds: number;
  startedAt: Date;
  gaps: GapHistogram;
  /** Why a pass did nothing (skipped, or nothing settled since the checkpoint). */
  reason?: string;
  error?: Error;
}
