import { jobStateKey } from '../config/job.js';
import type pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { createArchiveTable } from './archiveTable.js';
import type { HorizonRow } from '../sql/horizon.js';
import { checkpointHorizon, logBlockedRows } from './blockedRows.js';
import { readStoredCheckpoint } from './checkpoint.js';
import { jobDefinition } from './definition.js';
import { readHorizon } from './horizon.js';
import { Lease } from './lease.js';
import { namedFailure } from './namedFailure.js';
import { PassCounts } from './passCounts.js';
import { openPassConnections, type PassConnections } from './passConnections.js';
import { buildResult, heldBack, requestedScope, type PassEnd } from './passEnd.js';
import { recordRun } from './recordRun.js';
import { removeDuplicates } from './removeDuplicates.js';
import { DEFAULT_HISTORY_DAYS, type JobResult, type RunOptions } from './result.js';
import { RunWatch } from './runWatch.js';

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
  const log = options.logger.child({
    job: plan.job.name,
    ...(plan.job.shard ? { shard: plan.job.shard } : {}),
  });
  const startedAt = new Date();
  const started = performance.now();
  const counts = new PassCounts();
  // The job's runTimeout, and a warning while nothing moves (src/reconcile/runWatch.ts).
  const watch = new RunWatch(log, plan.job.runTimeoutSeconds);
  let connections: PassConnections | undefined;
  let end: PassEnd;
  try {
    connections = await openPassConnections(database);
    watch.guard({ writer: connections.writer, scan: connections.scanner });
    // Past the deadline a pass that does not unwind is left (the lease then expires).
    end = await watch.bound(pass(connections, plan, options, counts, log, watch), () => ({
      outcome: 'failure',
      scope: requestedScope(options),
      commit: {},
    }));
  } catch (error) {
    end = { outcome: 'failure', scope: requestedScope(options), commit: {}, error: error as Error };
  }
  logBlockedRows(log, plan, counts);
  end = namedFailure(end, plan.job.name, watch);
  let result = buildResult(plan, options, end, counts, startedAt, (performance.now() - started) / 1000);
  if (!options.dryRun) {
    const historyDays = options.historyDays ?? DEFAULT_HISTORY_DAYS;
    const unrecorded = result;
    result = await watch.bound(
      recordRun(database, connections?.writer, plan, { ...end, result }, historyDays, log),
      () => unrecorded,
      { what: 'the run record', connection: connections?.writer },
    );
  }
  // Best effort, whatever the outcome: by its token, so a lease someone else took is left
  // alone; if it fails, the lease expires (or is taken once this session is gone).
  if (end.lease) {
    const release = end.lease.release(connections!.writer.client).catch(() => undefined);
    await watch.bound(release, () => undefined, { what: 'the lease', connection: connections?.writer });
  }
  watch.stop();
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
  watch: RunWatch,
): Promise<PassEnd> {
  const job = plan.job;
  const writer = connections.writer.client;
  // A dry run writes nothing, so it takes no lease: it only stays away from a live runner.
  const lease = await watch.during(
    'the lease',
    connections.writer,
    (): Promise<Lease | { heldUntil: string } | { expiresAt: string } | undefined> =>
      options.dryRun ? Lease.holder(writer, job) : Lease.acquire(writer, job),
  );
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
      await watch.during('the archive table', connections.writer, () => createArchiveTable(writer, plan));
    }
    // The stored checkpoint bounds the horizon while a prepared transaction exists, even
    // on a full pass; only an incremental pass starts from it.
    const stored = await watch.during('the checkpoint', connections.writer, () =>
      readStoredCheckpoint(connections.writer, plan, log),
    );
    if (stored?.fullPassDue && !options.full) {
      log.info({ fullEvery: `${job.fullEverySeconds}s` }, 'a full pass is due (fullEvery): this run is one');
    }
    from = options.full || stored?.fullPassDue ? undefined : stored?.horizon;
    scope = from === undefined ? 'full' : 'incremental';
    horizon = await watch.during('the horizon', connections.scanner, () =>
      readHorizon(connections, plan, stored?.horizon, log),
    );
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
        watch,
        progress: options.progress,
      },
    );
    if (options.signal?.aborted) {
      // The batch in hand has committed (with its counts); the checkpoint stays where it
      // was, so the next run redoes the rest of this pass.
      throw new Error('interrupted by a signal before the end of the pass; the next run finishes it');
    }
    const checkpoint = {
      job: jobStateKey(job),
      // Not past a duplicate skipped as locked: the next incremental pass judges it again.
      horizon: await checkpointHorizon(writer, plan, horizon.horizon, counts),
      horizonType: plan.timeType,
      definition: jobDefinition(plan),
      fullPass: scope === 'full',
    };
    return { ...facts, outcome: 'success', commit: { checkpoint, uncommitted: counts.takeUncommitted() } };
  } catch (error) {
    return { outcome: 'failure', scope, from, horizon, lease, commit: {}, error: error as Error };
  }
}
