import { jobStateKey } from '../config/job.js';
import type pg from 'pg';
import { APPLICATION_NAME } from '../config/product.js';
import { withClient, type Connection } from '../db/connect.js';
import type { JobPlan } from '../db/plan.js';
import { inShortTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import { writeCheckpointStatement, type CheckpointWrite } from '../sql/checkpoint.js';
import {
  addTotalsStatement,
  countRunStatement,
  insertRunStatement,
  pruneRunsStatement,
} from '../sql/totals.js';
import type { Lease } from './lease.js';
import type { UncommittedCounts } from './passCounts.js';
import type { JobResult } from './result.js';

/** What a pass that ended well commits together with its run record. */
export interface RunCommit {
  /** The horizon of a completed pass: the next incremental pass starts there. */
  checkpoint?: CheckpointWrite;
  /** Counts gathered after the last batch (rows examined, nothing removed). */
  uncommitted?: UncommittedCounts;
}

async function insertRecord(
  client: pg.ClientBase,
  plan: JobPlan,
  result: JobResult,
  commit: RunCommit,
  historyDays: number,
): Promise<void> {
  const job = jobStateKey(plan.job);
  if (commit.checkpoint !== undefined) await client.query(writeCheckpointStatement(commit.checkpoint));
  if (commit.uncommitted) {
    await client.query(addTotalsStatement(job, { ...commit.uncommitted, duplicatesRemoved: 0 }));
  }
  await client.query(countRunStatement(job, result.outcome));
  await client.query(
    insertRunStatement({
      job,
      startedAt: result.startedAt,
      outcome: result.outcome,
      scope: result.scope,
      rowsExamined: result.rowsExamined,
      duplicatesFound: result.duplicatesFound,
      duplicatesRemoved: result.duplicatesRemoved,
      missedByIncremental: result.missedByIncremental,
      referencedKept: result.referencedKept,
      lockedSkipped: result.lockedSkipped,
      horizon: result.horizon,
      horizonLagSeconds: result.horizonLagSeconds,
      snapshotSeconds: result.snapshotSeconds,
      durationSeconds: result.durationSeconds,
      gapCounts: result.gaps.counts,
      error: result.error?.message ?? result.reason,
    }),
  );
  await client.query(pruneRunsStatement(job, historyDays));
}

/**
 * Records a run (not a dry run) once, whatever its outcome, and returns the result as
 * recorded. A pass that ended well records on its own writer, which still holds the job's
 * lock, in one short transaction with its checkpoint and last counts; should that fail,
 * the run is a failure. A failed run is recorded on a connection of its own (the pass's
 * may be why it failed), best effort: when the database is unreachable there is nothing
 * to record into, and the summary line reports the failure anyway.
 */
export async function recordRun(
  database: pg.ClientConfig,
  writer: Connection | undefined,
  plan: JobPlan,
  ended: { result: JobResult; commit: RunCommit; lease?: Lease },
  historyDays: number,
  log: Logger,
): Promise<JobResult> {
  let result = ended.result;
  if (result.outcome !== 'failure' && writer) {
    try {
      await inShortTransaction(writer.client, plan.job, async (c) => {
        // The checkpoint is written only while the lease is still this run's.
        await ended.lease?.renewIn(c);
        await insertRecord(c, plan, result, ended.commit, historyDays);
      });
      return result;
    } catch (error) {
      result = { ...result, outcome: 'failure', error: error as Error };
    }
  }
  try {
    await withClient(database, APPLICATION_NAME.writer, (client) =>
      inShortTransaction(client, plan.job, (c) => insertRecord(c, plan, result, {}, historyDays)),
    );
  } catch (error) {
    log.warn({ err: error }, 'could not record the failed run');
  }
  return result;
}
