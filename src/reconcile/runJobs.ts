import type pg from 'pg';
import type { Job } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { planJob } from './planJob.js';
import { connect } from '../db/connect.js';
import { migrate } from './migrate.js';
import { indexFindings, readTableIndexes } from '../dba/indexes.js';
import type { Logger } from '../log.js';
import { reconcileJob, type JobResult, type RunOptions } from './reconcileJob.js';

/**
 * Checks every job against the catalog (throws ConfigError, changing nothing, when one is
 * wrong), then applies the reconciler's own migrations unless this is a dry run.
 */
export async function prepareJobs(
  database: pg.ClientConfig,
  jobs: Job[],
  options: { dryRun: boolean; logger?: Logger },
): Promise<JobPlan[]> {
  const setup = await connect(database, 'status-reconciler');
  try {
    const plans: JobPlan[] = [];
    for (const job of jobs) {
      const plan = await planJob(setup.client, job);
      if (options.logger) await warnMissingIndexes(setup.client, plan, options.logger);
      plans.push(plan);
    }
    if (!options.dryRun) await migrate(setup.client);
    return plans;
  } finally {
    await setup.close();
  }
}

/*
 * Without a btree on key + orderBy every re-verification is a sequential scan, and a batch
 * on a million-row table outlives statement_timeout (measured: BENCHMARKS.md, F1); without
 * one on the first orderBy column an incremental pass reads the whole table. A warning, not
 * a refusal: small tables do fine without, and `check` prints the same fix.
 */
async function warnMissingIndexes(client: pg.Client, plan: JobPlan, logger: Logger): Promise<void> {
  const missing = indexFindings(plan, await readTableIndexes(client, plan)).filter((f) => f.level === 'fail');
  for (const finding of missing) {
    logger.warn({ job: plan.job.name, fix: finding.fix.join('\n') }, finding.message);
  }
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
    ...(result.dryRun ? { wouldRemove: result.duplicatesFound } : {}),
    batches: result.batches,
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
  options: RunOptions & { afterJob?: (result: JobResult) => Promise<unknown> },
): Promise<JobResult[]> {
  const plans = await prepareJobs(database, jobs, { dryRun: options.dryRun, logger: options.logger });
  const results: JobResult[] = [];
  for (const plan of plans) {
    if (options.signal?.aborted) break;
    const result = await reconcileJob(database, plan, options);
    logSummary(options.logger, result);
    await options.afterJob?.(result);
    results.push(result);
  }
  return results;
}
