import type { JobPlan } from '../db/plan.js';
import type { HorizonRow } from '../sql/horizon.js';
import type { RunOutcome } from '../sql/totals.js';
import type { Lease } from './lease.js';
import type { PassCounts } from './passCounts.js';
import type { RunCommit } from './recordRun.js';
import type { JobResult, RunOptions, Scope } from './result.js';

/** How a pass ended: what the result says besides its counts, and what to commit with it. */
export interface PassEnd {
  outcome: RunOutcome;
  scope: Scope;
  /** The job's lease, when this pass took it (and so renews it with its writes, and gives it up). */
  lease?: Lease;
  from?: string;
  horizon?: HorizonRow;
  commit: RunCommit;
  reason?: string;
  error?: Error;
}

/**
 * When the horizon lets this pass judge nothing: the outcome and the reason the operator
 * reads (summary line, run history, `status`). Nothing settled since the last pass: the
 * checkpoint stays where it is. A prepared transaction and no checkpoint to hold the
 * horizon at: nothing can be judged until it ends, and the run says so, skipped.
 */
export function heldBack(
  horizon: HorizonRow,
  scope: Scope,
): { outcome: RunOutcome; reason: string } | undefined {
  const prepared =
    horizon.preparedGid !== null
      ? `a prepared transaction (gid ${JSON.stringify(horizon.preparedGid)}, prepared at ${horizon.preparedAt ?? '?'})`
      : undefined;
  if (prepared !== undefined && horizon.horizon === '-infinity') {
    return {
      outcome: 'skipped',
      reason:
        `${prepared} holds the horizon, and this job has no usable checkpoint to hold it at (none yet, ` +
        'or one taken under another job definition): nothing is judged ' +
        'until it is committed or rolled back (COMMIT PREPARED or ROLLBACK PREPARED; see pg_prepared_xacts)',
    };
  }
  if (scope === 'incremental' && horizon.behindCheckpoint) {
    return {
      outcome: 'success',
      reason:
        prepared !== undefined
          ? `${prepared} holds the horizon at the checkpoint until it is committed or rolled back`
          : 'the horizon has not moved past the checkpoint',
    };
  }
  return undefined;
}

/** The scope asked for; a pass without a usable checkpoint is full whatever was asked. */
export function requestedScope(options: RunOptions): Scope {
  return options.full ? 'full' : 'incremental';
}

export function buildResult(
  plan: JobPlan,
  options: RunOptions,
  end: PassEnd,
  counts: PassCounts,
  startedAt: Date,
  durationSeconds: number,
): JobResult {
  return {
    job: plan.job.name,
    shard: plan.job.shard,
    outcome: end.outcome,
    dryRun: options.dryRun,
    scope: end.scope,
    rowsExamined: counts.rowsExamined,
    duplicatesFound: counts.duplicatesFound,
    duplicatesRemoved: counts.duplicatesRemoved,
    referencedKept: counts.referencedKept,
    lockedSkipped: counts.lockedSkipped,
    missedByIncremental: counts.missedByIncremental,
    batches: counts.batches,
    longestBatchSeconds: counts.longestBatchSeconds,
    horizon: end.horizon?.horizon,
    horizonLagSeconds: end.horizon?.lagSeconds ?? undefined,
    checkpoint: end.from,
    snapshotSeconds: counts.snapshotSeconds,
    durationSeconds,
    startedAt,
    gaps: counts.gaps,
    ...(end.reason !== undefined ? { reason: end.reason } : {}),
    ...(end.error !== undefined ? { error: end.error } : {}),
  };
}
