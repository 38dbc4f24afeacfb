import type pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { createArchiveTableStatement } from '../sql/archiveTable.js';
import type { HorizonRow } from '../sql/horizon.js';
import { tryLockStatement, unlockStatement } from '../sql/lock.js';
import type { RunOutcome } from '../sql/totals.js';
import { readStoredCheckpoint } from './checkpoint.js';
import { readHorizon } from './horizon.js';
import { PassCounts } from './passCounts.js';
import { openPassConnections, type PassConnections } from './passConnections.js';
import { recordRun, type RunCommit } from './recordRun.js';
import { removeDuplicates } from './removeDuplicates.js';
import { DEFAULT_HISTORY_DAYS, type JobResult, type RunOptions, type Scope } from './result.js';

/** How a pass ended: what the result says besides its counts, and what to commit with it. */
interface PassEnd {
  outcome: RunOutcome;
  scope: Scope;
  /** Whether this pass took the job's lock (and so releases it). */
  locked: boolean;
  from?: string;
  horizon?: HorizonRow;
  commit: RunCommit;
  reason?: string;
  error?: Error;
}

/**
 * One pass of one job, in the order of the design: lock, horizon, scan and collapse in
 * batches, then checkpoint and run record, committed together. Never throws: a failure is
 * returned (and recorded) as outcome 'failure'.
 */
export async function reconcileJob(
  database: pg.ClientConfig,
  plan: JobPlan,
  options: RunOptions,
): Promise<JobResult> {
  const log = options.logger.child({ job: plan.job.name });
  const startedAt = new Date();
  const started = performance.now();
  const counts = new PassCounts();
  let connections: PassConnections | undefined;
  let end: PassEnd;
  try {
    connections = await openPassConnections(database, plan.job);
    end = await pass(connections, plan, options, counts, log);
  } catch (error) {
    end = {
      outcome: 'failure',
      scope: requestedScope(options),
      locked: false,
      commit: {},
      error: error as Error,
    };
  }
  let result = buildResult(plan, options, end, counts, startedAt, (performance.now() - started) / 1000);
  if (!options.dryRun) {
    const historyDays = options.historyDays ?? DEFAULT_HISTORY_DAYS;
    result = await recordRun(
      database,
      connections?.writer,
      plan,
      { result, commit: end.commit },
      historyDays,
      log,
    );
  }
  if (end.locked && result.outcome !== 'failure') {
    // Best effort: closing the session below releases the lock anyway.
    await connections?.writer.client.query(unlockStatement(plan.job.name)).catch(() => undefined);
  }
  await connections?.close();
  return result;
}

/** The pass under the job's lock; `counts` holds what it did even when it fails half-way. */
async function pass(
  connections: PassConnections,
  plan: JobPlan,
  options: RunOptions,
  counts: PassCounts,
  log: Logger,
): Promise<PassEnd> {
  const job = plan.job;
  const { rows } = await connections.writer.client.query<{ locked: boolean }>(tryLockStatement(job.name));
  if (!rows[0]?.locked) {
    const reason = 'another runner holds this job';
    return { outcome: 'skipped', scope: requestedScope(options), locked: false, commit: {}, reason };
  }
  let scope = requestedScope(options);
  let from: string | undefined;
  let horizon: HorizonRow | undefined;
  try {
    if (!options.dryRun && job.mode === 'archive' && !plan.archiveExists) {
      await connections.writer.client.query(createArchiveTableStatement(plan));
    }
    // The stored checkpoint bounds the horizon while a prepared transaction exists, even
    // under --full; only an incremental pass starts from it.
    const storedCheckpoint = await readStoredCheckpoint(connections.writer, plan, log);
    from = options.full ? undefined : storedCheckpoint;
    scope = from === undefined ? 'full' : 'incremental';
    horizon = await readHorizon(connections, plan, storedCheckpoint, log);
    const facts = { scope, from, horizon, locked: true };
    if (scope === 'incremental' && horizon.behindCheckpoint) {
      // Nothing settled since the last pass; the checkpoint stays where it is.
      const reason = 'the horizon has not moved past the checkpoint';
      return { ...facts, outcome: 'success', commit: {}, reason };
    }
    await removeDuplicates(connections, plan, { horizon: horizon.horizon, from }, counts, {
      dryRun: options.dryRun,
      signal: options.signal,
      log,
    });
    if (options.signal?.aborted) {
      // The batch in hand has committed (with its counts); the checkpoint stays where it
      // was, so the next run redoes the rest of this pass.
      throw new Error('interrupted by a signal before the end of the pass; the next run finishes it');
    }
    const commit = { checkpoint: horizon.horizon, uncommitted: counts.takeUncommitted() };
    return { ...facts, outcome: 'success', commit };
  } catch (error) {
    return { outcome: 'failure', scope, from, horizon, locked: true, commit: {}, error: error as Error };
  }
}

/** The scope asked for; a pass without a usable checkpoint is full whatever was asked. */
function requestedScope(options: RunOptions): Scope {
  return options.full ? 'full' : 'incremental';
}

function buildResult(
  plan: JobPlan,
  options: RunOptions,
  end: PassEnd,
  counts: PassCounts,
  startedAt: Date,
  durationSeconds: number,
): JobResult {
  return {
    job: plan.job.name,
    outcome: end.outcome,
    dryRun: options.dryRun,
    scope: end.scope,
    rowsExamined: counts.rowsExamined,
    duplicatesFound: counts.duplicatesFound,
    duplicatesRemoved: counts.duplicatesRemoved,
    batches: counts.batches,
    horizon: end.horizon?.horizon,
    horizonLagSeconds: end.horizon?.lagSeconds,
    checkpoint: end.from,
    snapshotSeconds: counts.snapshotSeconds,
    durationSeconds,
    startedAt,
    gaps: counts.gaps,
    ...(end.reason !== undefined ? { reason: end.reason } : {}),
    ...(end.error !== undefined ? { error: end.error } : {}),
  };
}
