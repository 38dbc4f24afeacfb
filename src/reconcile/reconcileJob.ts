import type pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { createArchiveTableStatement } from '../sql/archiveTable.js';
import type { HorizonRow } from '../sql/horizon.js';
import { readStoredCheckpoint } from './checkpoint.js';
import { jobDefinition } from './definition.js';
import { readHorizon } from './horizon.js';
import { Lease } from './lease.js';
import { PassCounts } from './passCounts.js';
import { openPassConnections, type PassConnections } from './passConnections.js';
import { buildResult, heldBack, requestedScope, type PassEnd } from './passEnd.js';
import { recordRun } from './recordRun.js';
import { removeDuplicates } from './removeDuplicates.js';
import { DEFAULT_HISTORY_DAYS, type JobResult, type RunOptions } from './result.js';

/**
 * One pass of one job, in the order of the design: lease, horizon, scan and collapse in
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
    connections = await openPassConnections(database);
    end = await pass(connections, plan, options, counts, log);
  } catch (error) {
    end = { outcome: 'failure', scope: requestedScope(options), commit: {}, error: error as Error };
  }
  let result = buildResult(plan, options, end, counts, startedAt, (performance.now() - started) / 1000);
  if (!options.dryRun) {
    const historyDays = options.historyDays ?? DEFAULT_HISTORY_DAYS;
    result = await recordRun(database, connections?.writer, plan, { ...end, result }, historyDays, log);
  }
  // Best effort, whatever the outcome: by its token, so a lease someone else took is left
  // alone; if it fails, the lease expires (or is taken once this session is gone).
  if (end.lease) await end.lease.release(connections!.writer.client).catch(() => undefined);
  await connections?.close();
  return result;
}

/** The pass under the job's lease; `counts` holds what it did even when it fails half-way. */
async function pass(
  connections: PassConnections,
  plan: JobPlan,
  options: RunOptions,
  counts: PassCounts,
  log: Logger,
): Promise<PassEnd> {
  const job = plan.job;
  const writer = connections.writer.client;
  // A dry run writes nothing, so it takes no lease: it only stays away from a live runner.
  const lease = options.dryRun ? await Lease.holder(writer, job) : await Lease.acquire(writer, job);
  if (lease !== undefined && !(lease instanceof Lease)) {
    const until = 'heldUntil' in lease ? lease.heldUntil : lease.expiresAt;
    const reason = `another runner holds this job (its lease runs until ${until} unless renewed)`;
    return { outcome: 'skipped', scope: requestedScope(options), commit: {}, reason };
  }
  let scope = requestedScope(options);
  let from: string | undefined;
  let horizon: HorizonRow | undefined;
  try {
    if (!options.dryRun && job.mode === 'archive' && !plan.archiveExists) {
      await writer.query(createArchiveTableStatement(plan));
    }
    // The stored checkpoint bounds the horizon while a prepared transaction exists, even
    // on a full pass; only an incremental pass starts from it.
    const stored = await readStoredCheckpoint(connections.writer, plan, log);
    if (stored?.fullPassDue && !options.full) {
      log.info({ fullEvery: `${job.fullEverySeconds}s` }, 'a full pass is due (fullEvery): this run is one');
    }
    from = options.full || stored?.fullPassDue ? undefined : stored?.horizon;
    scope = from === undefined ? 'full' : 'incremental';
    horizon = await readHorizon(connections, plan, stored?.horizon, log);
    const facts = { scope, from, horizon, lease };
    const held = heldBack(horizon, scope);
    if (held) return { ...facts, ...held, commit: {} };
    await removeDuplicates(
      connections,
      plan,
      { horizon: horizon.horizon, from, stored: stored?.horizon },
      counts,
      {
        dryRun: options.dryRun,
        signal: options.signal,
        lease,
        log,
      },
    );
    if (options.signal?.aborted) {
      // The batch in hand has committed (with its counts); the checkpoint stays where it
      // was, so the next run redoes the rest of this pass.
      throw new Error('interrupted by a signal before the end of the pass; the next run finishes it');
    }
    const checkpoint = {
      job: job.name,
      horizon: horizon.horizon,
      horizonType: plan.timeType,
      definition: jobDefinition(plan),
      fullPass: scope === 'full',
    };
    return { ...facts, outcome: 'success', commit: { checkpoint, uncommitted: counts.takeUncommitted() } };
  } catch (error) {
    return { outcome: 'failure', scope, from, horizon, lease, commit: {}, error: error as Error };
  }
}
