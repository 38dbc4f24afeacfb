import type pg from 'pg';
import type { Job } from '../config/job.js';
import { APPLICATION_NAME } from '../config/product.js';
import { connect, ConnectionError } from '../db/connect.js';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { followSourceColumns } from './archiveColumns.js';
import { migrate } from './migrate.js';
import { planJob } from './planJob.js';
import { reconcileJob } from './reconcileJob.js';
import type { JobResult, RunOptions } from './result.js';

/** Looks at a job's plan before it runs (e.g. the commands' warning about missing indexes). */
export type PlanInspector = (client: pg.ClientBase, plan: JobPlan) => Promise<void>;

const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * Checks every job against the catalog (throws ConfigError, changing nothing, when one is
 * wrong), then, unless this is a dry run, adds to archive tables the columns their sources
 * have gained (a dry run logs them) and applies the reconciler's own migrations.
 *
 * Under the jobs' deadline too (the shortest runTimeout of them): a server or network that
 * stalls here would otherwise hold the run before any job's own deadline starts. At the
 * deadline the connection is cut and the run fails (ConnectionError: exit 1) naming it.
 */
export async function prepareJobs(
  database: pg.ClientConfig,
  jobs: Job[],
  options: { dryRun: boolean; inspect?: PlanInspector; logger?: Logger },
): Promise<JobPlan[]> {
  // setTimeout takes at most 2^31-1 ms (about 24.8 days); no job at all: no deadline.
  const seconds = Math.min(MAX_TIMER_SECONDS, ...jobs.map((j) => j.runTimeoutSeconds));
  const connection = await connect(database, APPLICATION_NAME.writer);
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    connection.destroy(
      `preparing the jobs (catalog checks, archive columns, migrations) did not finish within ` +
        `runTimeout (${seconds} s): the server or the network stalled`,
    );
  }, seconds * 1000);
  try {
    return await planAll(connection.client, jobs, options);
  } catch (error) {
    if (expired) throw connection.failure ?? new ConnectionError(String(error), { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
    await connection.close();
  }
}

async function planAll(
  client: pg.Client,
  jobs: Job[],
  options: { dryRun: boolean; inspect?: PlanInspector; logger?: Logger },
): Promise<JobPlan[]> {
  const plans: JobPlan[] = [];
  for (const job of jobs) {
    const plan = await planJob(client, job);
    await options.inspect?.(client, plan);
    plans.push(plan);
  }
  for (const plan of plans) {
    await followSourceColumns(client, plan, { dryRun: options.dryRun, log: options.logger });
  }
  if (!options.dryRun) await migrate(client);
  return plans;
}

/** The one summary line per job and run. */
export function logSummary(log: Logger, result: JobResult): void {
  const line = {
    job: result.job,
    outcome: result.outcome,
    scope: result.scope,
    dryRun: result.dryRun,
    rowsExamined: result.rowsExamined,
    duplicatesFound: result.duplicatesFound,
    duplicatesRemoved: result.duplicatesRemoved,
    referencedKept: result.referencedKept,
    lockedSkipped: result.lockedSkipped,
    ...(result.scope === 'full' ? { missedByIncremental: result.missedByIncremental } : {}),
    ...(result.dryRun ? { wouldRemove: result.duplicatesFound } : {}),
    batches: result.batches,
    longestBatchSeconds: round(result.longestBatchSeconds),
    horizon: result.horizon,
    horizonLagSeconds: result.horizonLagSeconds,
    snapshotSeconds: round(result.snapshotSeconds),
    durationSeconds: round(result.durationSeconds),
    ...(result.reason ? { reason: result.reason } : {}),
  };
  if (result.outcome === 'failure') log.error({ ...line, err: result.error }, 'run failed');
  else if (result.outcome === 'skipped') log.info(line, `run skipped: ${result.reason ?? ''}`);
  else log.info(line, 'run summary');
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** One pass over the given jobs, one after another; `afterJob` sees each result (e.g. to push). */
export async function runJobs(
  database: pg.ClientConfig,
  jobs: Job[],
  options: RunOptions & { inspect?: PlanInspector; afterJob?: (result: JobResult) => Promise<unknown> },
): Promise<JobResult[]> {
  const plans = await prepareJobs(database, jobs, {
    dryRun: options.dryRun,
    inspect: options.inspect,
    logger: options.logger,
  });
  const results: JobResult[] = [];
  for (const plan of plans) {
    if (options.signal?.aborted) break;
    options.progress?.passStarted({ job: plan.job.name, shard: plan.job.shard, dryRun: options.dryRun });
    const result = await reconcileJob(database, plan, options);
    // Before the summary line: a progress bar ends its line first.
    options.progress?.passEnded(result);
    logSummary(options.logger, result);
    await options.afterJob?.(result);
    results.push(result);
  }
  return results;
}
