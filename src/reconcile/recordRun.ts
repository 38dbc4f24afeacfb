import type pg from 'pg';
import { connect } from '../db/connect.js';
import { inShortTransaction, type Timeouts } from '../db/transaction.js';
import {
  addTotalsStatement,
  countRunStatement,
  insertRunStatement,
  pruneRunsStatement,
  type TotalsDelta,
} from '../sql/totals.js';
import { GapHistogram } from './gapHistogram.js';
import type { JobResult } from './reconcileJob.js';

/**
 * Counts gathered since the last commit of the job's totals. They are committed with the
 * batch they lead up to, so removals are never counted without their rows going (or the
 * reverse). A run killed after a batch commits will examine the rows after that batch
 * again on its next run and count them again: rows_examined and duplicates_found may
 * over-count by at most one batch's stretch per crash; duplicates_removed is exact.
 */
export class PendingTotals {
  rowsExamined = 0;
  duplicatesFound = 0;
  gaps = new GapHistogram();

  /** The delta to commit with `removed` rows, and a fresh start for the next one. */
  take(removed: number): TotalsDelta {
    const delta: TotalsDelta = {
      rowsExamined: this.rowsExamined,
      duplicatesFound: this.duplicatesFound,
      duplicatesRemoved: removed,
      gapCounts: this.gaps.counts,
      gapSum: this.gaps.sum,
    };
    this.rowsExamined = 0;
    this.duplicatesFound = 0;
    this.gaps = new GapHistogram();
    return delta;
  }
}

export const DEFAULT_HISTORY_DAYS = 30;

/** The run_history row and the run counter, in the caller's transaction. */
export async function recordRun(
  client: pg.Client,
  result: JobResult,
  historyDays: number,
  finalDelta?: TotalsDelta,
): Promise<void> {
  if (finalDelta) await client.query(addTotalsStatement(result.job, finalDelta));
  await client.query(countRunStatement(result.job, result.outcome));
  await client.query(
    insertRunStatement({
      job: result.job,
      startedAt: result.startedAt,
      outcome: result.outcome,
      scope: result.scope,
      rowsExamined: result.rowsExamined,
      duplicatesFound: result.duplicatesFound,
      duplicatesRemoved: result.duplicatesRemoved,
      horizon: result.horizon,
      horizonLagSeconds: result.horizonLagSeconds,
      snapshotSeconds: result.snapshotSeconds,
      durationSeconds: result.durationSeconds,
      gapCounts: result.gaps.counts,
      error: result.error?.message ?? result.reason,
    }),
  );
  await client.query(pruneRunsStatement(result.job, historyDays));
}

/**
 * A failed run is recorded on a connection of its own: the run's may be the reason it
 * failed. Best effort: when the database is unreachable there is nothing to record into,
 * and the caller logs the failure anyway.
 */
export async function recordFailedRun(
  database: pg.ClientConfig,
  result: JobResult,
  historyDays: number,
  timeouts: Timeouts,
): Promise<Error | undefined> {
  try {
    const connection = await connect(database, 'status-reconciler');
    try {
      await inShortTransaction(connection.client, timeouts, (c) => recordRun(c, result, historyDays));
    } finally {
      await connection.close();
    }
    return undefined;
  } catch (error) {
    return error as Error;
  }
}
