import type pg from 'pg';
import Cursor from 'pg-cursor';
import type { JobPlan } from '../db/plan.js';
import { connect, type Connection } from '../db/connect.js';
import { stateSchemaExistsStatement } from '../sql/stateSchema.js';
import { inShortTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import { createArchiveTableStatement } from '../sql/archiveTable.js';
import { readCheckpointStatement, writeCheckpointStatement, type CheckpointRow } from '../sql/checkpoint.js';
import { collapseStatement, type DuplicateRef } from '../sql/collapse.js';
import { horizonStatement, SCAN_APPLICATION_NAME, type HorizonRow } from '../sql/horizon.js';
import { tryLockStatement, unlockStatement } from '../sql/lock.js';
import { scanStatement } from '../sql/scan.js';
import { addTotalsStatement, type TotalsDelta } from '../sql/totals.js';
import { qualified } from '../db/quote.js';
import { DEFAULT_HISTORY_DAYS, PendingTotals, recordFailedRun, recordRun } from './recordRun.js';
import { GapHistogram } from './gapHistogram.js';
import { ProgressReporter } from './progress.js';

export type Outcome = 'success' | 'failure' | 'skipped';

export interface RunOptions {
  dryRun: boolean;
  full: boolean;
  logger: Logger;
  /** Aborting stops the pass after the batch in hand; the checkpoint is then not advanced. */
  signal?: AbortSignal;
  /** Days of run_history to keep (default 30). */
  historyDays?: number;
}

/** What one pass of one job did; the source of the summary log line and the metrics. */
export interface JobResult {
  job: string;
  outcome: Outcome;
  dryRun: boolean;
  /** 'full' or 'incremental' (from the checkpoint). */
  scope: 'full' | 'incremental';
  rowsExamined: number;
  duplicatesFound: number;
  duplicatesRemoved: number;
  batches: number;
  horizon: string | undefined;
  horizonLagSeconds: number | undefined;
  checkpoint: string | undefined;
  /** How long the scan's read-only snapshot stayed open (it holds back vacuum meanwhile). */
  snapshotSeconds: number;
  durationSeconds: number;
  startedAt: Date;
  gaps: GapHistogram;
  reason?: string;
  error?: Error;
}

const READ_ROWS = 1000;
const CURSOR_CLOSE_TIMEOUT_MS = 5000;
const WRITER_APPLICATION_NAME = 'status-reconciler';

// The scan's values come back as the server's text so that timestamps keep their
// microseconds and every type casts back exactly in the collapse statement.
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

type ScanRow = (string | null)[];

/**
 * One pass of one job, in the order of the design: lock, horizon, scan, collapse in
 * batches, checkpoint and totals. Never throws: a failure is returned as outcome 'failure'.
 */
export async function reconcileJob(
  database: pg.ClientConfig,
  plan: JobPlan,
  options: RunOptions,
): Promise<JobResult> {
  const job = plan.job;
  const log = options.logger.child({ job: job.name });
  const started = performance.now();
  const historyDays = options.historyDays ?? DEFAULT_HISTORY_DAYS;
  const result: JobResult = {
    job: job.name,
    outcome: 'success',
    dryRun: options.dryRun,
    scope: options.full ? 'full' : 'incremental',
    rowsExamined: 0,
    duplicatesFound: 0,
    duplicatesRemoved: 0,
    batches: 0,
    horizon: undefined,
    horizonLagSeconds: undefined,
    checkpoint: undefined,
    snapshotSeconds: 0,
    durationSeconds: 0,
    startedAt: new Date(),
    gaps: new GapHistogram(),
  };
  const elapsed = (): number => (performance.now() - started) / 1000;

  let writer: Connection | undefined;
  let scanner: Connection | undefined;
  try {
    writer = await connect(database, WRITER_APPLICATION_NAME);
    scanner = await connect(database, SCAN_APPLICATION_NAME);
    if (job.timeZone !== undefined) {
      for (const c of [writer, scanner]) {
        await c.client.query(`SELECT set_config('TimeZone', $1, false)`, [job.timeZone]);
      }
    }

    const { rows: lockRows } = await writer.client.query<{ locked: boolean }>(tryLockStatement(job.name));
    if (!lockRows[0]?.locked) {
      result.outcome = 'skipped';
      result.reason = 'another runner holds this job';
      result.durationSeconds = elapsed();
      if (!options.dryRun) {
        await inShortTransaction(writer.client, job, (c) => recordRun(c, result, historyDays));
      }
      return result;
    }

    if (!options.dryRun && job.mode === 'archive' && !plan.archiveExists) {
      await writer.client.query(createArchiveTableStatement(plan));
    }

    // The stored checkpoint: where an incremental pass starts, and (even with --full) the
    // bound the horizon keeps while a prepared transaction exists.
    let stored: string | undefined;
    if ((await writer.client.query(stateSchemaExistsStatement())).rowCount !== 0) {
      const { rows } = await writer.client.query<CheckpointRow>(readCheckpointStatement(job.name));
      const saved = rows[0];
      const usable =
        saved !== undefined &&
        saved.horizonType === plan.timeType &&
        (plan.timeType === 'timestamptz' || saved.sameTimeZone);
      if (usable) stored = saved.horizon;
      else if (saved) log.warn('the checkpoint was taken with another column type or TimeZone: full pass');
    }
    if (!options.full) result.checkpoint = stored;
    if (result.checkpoint === undefined) result.scope = 'full';

    const { rows: horizonRows } = await scanner.client.query<HorizonRow>(
      horizonStatement(plan, [writer.pid, scanner.pid], stored),
    );
    const horizon = horizonRows[0] as HorizonRow;
    result.horizon = horizon.horizon;
    result.horizonLagSeconds = horizon.lagSeconds;
    if (horizon.hiddenSessions > 0) {
      log.warn(
        { hiddenSessions: horizon.hiddenSessions },
        "other sessions' transactions are invisible in pg_stat_activity (grant pg_read_all_stats; " +
          'track_activities must be on): for those the horizon relies on settleSeconds alone',
      );
    }
    if (horizon.preparedTransactions) {
      log.warn('a prepared transaction exists: the horizon is held at the last checkpoint until it ends');
    }
    if (result.scope === 'incremental' && horizon.behindCheckpoint) {
      // Nothing settled since the last pass; keep the checkpoint where it is.
      if (!options.dryRun) {
        result.durationSeconds = elapsed();
        await inShortTransaction(writer.client, job, (c) => recordRun(c, result, historyDays));
      }
      result.reason = 'the horizon has not moved past the checkpoint';
      await writer.client.query(unlockStatement(job.name));
      return result;
    }

    const pending = new PendingTotals();
    await scan(plan, scanner, writer, result, pending, options, log);

    if (options.signal?.aborted) {
      // The batch in hand has committed (with its totals); the checkpoint stays where it
      // was, so the next run redoes the rest of this pass.
      throw new Error('interrupted by a signal before the end of the pass; the next run finishes it');
    }
    if (!options.dryRun) {
      result.durationSeconds = elapsed();
      await inShortTransaction(writer.client, job, async (c) => {
        await c.query(writeCheckpointStatement(job.name, horizon.horizon, plan.timeType));
        await recordRun(c, result, historyDays, pending.take(0));
      });
    }
    await writer.client.query(unlockStatement(job.name));
  } catch (error) {
    result.outcome = 'failure';
    result.error = error as Error;
  } finally {
    await Promise.all([scanner?.close(), writer?.close()]);
    result.durationSeconds = elapsed();
  }
  if (result.outcome === 'failure' && !options.dryRun) {
    const notRecorded = await recordFailedRun(database, result, historyDays, job);
    if (notRecorded) log.warn({ err: notRecorded }, 'could not record the failed run');
  }
  return result;
}

/** Streams the duplicates and collapses them in batches, one batch in flight at a time. */
async function scan(
  plan: JobPlan,
  scanner: Connection,
  writer: Connection,
  result: JobResult,
  pending: PendingTotals,
  options: RunOptions,
  log: Logger,
): Promise<void> {
  const job = plan.job;
  const keyCount = plan.key.length;
  const orderCount = plan.orderBy.length;
  const progress = new ProgressReporter(log, 5000, await expectedRows(writer, plan, result));
  let batch: DuplicateRef[] = [];
  let inFlight: Promise<void> = Promise.resolve();

  // Each batch commits its removals together with the counts gathered since the last one.
  const flush = async (refs: DuplicateRef[], counted: TotalsDelta): Promise<void> => {
    await inShortTransaction(writer.client, job, async (c) => {
      const res = await c.query(collapseStatement(plan, refs));
      const removed = res.rowCount ?? 0;
      await c.query(addTotalsStatement(job.name, { ...counted, duplicatesRemoved: removed }));
      result.duplicatesRemoved += removed;
    });
    result.batches += 1;
  };
  // Start the next batch only once the last one settled, and surface its error right away.
  // The counts are cut with the batch, so they describe exactly the rows read up to it.
  const startFlush = async (refs: DuplicateRef[]): Promise<void> => {
    await inFlight;
    if (refs.length === 0 || options.dryRun) return;
    inFlight = flush(refs, pending.take(0));
    inFlight.catch(() => undefined); // observed on the next await; never unhandled
  };

  const snapshotStart = performance.now();
  await scanner.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  // The scan may be long and sits idle while a batch commits: no role default may kill it.
  // pg-cursor fetches in portions, which runs any parallel plan without workers, so let the
  // planner cost plans without them.
  await scanner.client.query(
    `SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0;
     SET LOCAL max_parallel_workers_per_gather = 0`,
  );
  const statement = scanStatement(plan, result.horizon as string, result.checkpoint);
  const cursor = scanner.client.query(
    new Cursor<ScanRow>(statement.text, statement.values, { rowMode: 'array', types: RAW_TEXT }),
  );
  try {
    for (;;) {
      if (options.signal?.aborted) break;
      // The writer holds the job's lock: once it is gone, stop rather than hold the snapshot.
      if (writer.failure) throw writer.failure;
      const rows = await cursor.read(READ_ROWS);
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row[keyCount + orderCount] === 't') {
          const gap = Number(row[keyCount + orderCount + 1]);
          result.duplicatesFound += 1;
          result.gaps.observe(gap);
          pending.duplicatesFound += 1;
          pending.gaps.observe(gap);
          batch.push({
            key: row.slice(0, keyCount) as string[],
            orderBy: row.slice(keyCount, keyCount + orderCount) as string[],
          });
          if (batch.length >= job.batchSize) await startFlush(batch.splice(0, batch.length));
        }
        const examined = row[keyCount + orderCount + 2];
        if (examined !== null && examined !== undefined) {
          result.rowsExamined += Number(examined);
          pending.rowsExamined += Number(examined);
        }
      }
      progress.maybeReport(result);
    }
  } finally {
    // A batch still in flight settles either way before we report what was done.
    await inFlight.catch(() => undefined);
    await closeCursor(cursor);
    // Read-only: ending it either way only releases the snapshot.
    await scanner.client.query('ROLLBACK').catch(() => undefined);
    result.snapshotSeconds = (performance.now() - snapshotStart) / 1000;
  }
  // Stopping: the batch in hand (in flight) has settled above; the partial one is left
  // for the next run rather than started after the stop was asked for.
  if (!options.signal?.aborted) await startFlush(batch);
  batch = [];
  await inFlight;
}

/** The planner's row estimate on a full pass, for the progress line's time left. */
async function expectedRows(
  writer: Connection,
  plan: JobPlan,
  result: JobResult,
): Promise<number | undefined> {
  if (result.scope !== 'full') return undefined;
  const { rows } = await writer.client.query<{ n: string }>(
    `SELECT greatest(reltuples, 0)::bigint::text AS n FROM pg_catalog.pg_class WHERE oid = $1::regclass`,
    [qualified(plan.job.table)],
  );
  const n = Number(rows[0]?.n);
  return n > 0 ? n : undefined;
}

/** pg-cursor's close() may never settle after a lost connection (node-postgres #2588). */
async function closeCursor(cursor: Cursor<ScanRow>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    cursor.close().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CURSOR_CLOSE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
}
