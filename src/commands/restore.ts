import { ConfigError } from '../config/errors.js';
import { formatName, type Job } from '../config/job.js';
import { APPLICATION_NAME, PRODUCT } from '../config/product.js';
import { withClient } from '../db/connect.js';
import { createLogger, type Logger } from '../log.js';
import { checkKeyCount, readFilter, type ArchiveFilter } from '../reconcile/archiveFilter.js';
import { readPlan } from '../reconcile/planJob.js';
import { restoreArchived, type RestoreResult } from '../reconcile/restore.js';
import { readArchiveColumns } from '../reconcile/archiveTableColumns.js';
import { readRestoreColumns } from '../reconcile/restoreColumns.js';
import { installSignalHandlers } from '../signals.js';
import { parseJobsCommand, requireOneJob } from './args.js';

export const RESTORE_USAGE =
  'restore --jobs PATH --job NAME [--key VALUE]... [--since TIME] [--until TIME] [--dry-run]';

/** `object_id = 7, archived_at in [since, until)`: what was selected, for the summary. */
function describeSelection(job: Job, filter: ArchiveFilter): string {
  const parts: string[] = [];
  if (filter.key) parts.push(job.key.map((c, i) => `${c} = ${filter.key?.[i] ?? ''}`).join(', '));
  if (filter.since !== undefined || filter.until !== undefined) {
    parts.push(`archived_at in [${filter.since ?? '-infinity'}, ${filter.until ?? 'infinity'})`);
  }
  return parts.length > 0 ? parts.join(', ') : 'every archived row';
}

/** The one log line of a restore, as `run` has its summary line. */
function logSummary(log: Logger, result: RestoreResult, filter: ArchiveFilter): void {
  const line = {
    job: result.job,
    outcome: result.outcome === 'held' ? 'skipped' : result.outcome,
    dryRun: result.dryRun,
    ...(result.dryRun ? { wouldRestore: result.rows } : { restored: result.rows, batches: result.batches }),
    ...(filter.key ? { key: filter.key } : {}),
    ...(filter.since !== undefined ? { since: filter.since } : {}),
    ...(filter.until !== undefined ? { until: filter.until } : {}),
    durationSeconds: Math.round(result.durationSeconds * 1000) / 1000,
    ...(result.reason ? { reason: result.reason } : {}),
  };
  if (result.outcome === 'failure') log.error({ ...line, err: result.error }, 'restore failed');
  else if (result.outcome === 'held') log.warn(line, 'restore skipped: a run holds the job');
  else log.info(line, 'restore summary');
}

/**
 * Moves archived rows back into the history table, exactly (src/reconcile/restore.ts).
 * Exit 0 done (a dry run: counted), 1 failed or a run holds the job, 2 bad usage: a
 * delete-mode job, a --key or TIME the server does not read as its type; nothing changed.
 */
export async function restoreCommand(argv: string[]): Promise<number> {
  const { values, only, env, jobs, shard } = parseJobsCommand('restore', RESTORE_USAGE, argv, {
    key: { type: 'string', multiple: true },
    since: { type: 'string' },
    until: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  });
  const job = requireOneJob('restore', RESTORE_USAGE, only, jobs);
  if (shard !== undefined) {
    // The archive holds every shard's rows, and a restore's filter is by key and time only.
    throw new ConfigError(
      `restore: got shard ${shard.index} of ${shard.count} (--shard-index/--shard-count or SHARD_INDEX/SHARD_COUNT); ` +
        'expected none: a restore takes the whole job, under its own lease, and refuses while any shard runs',
    );
  }
  if (job.mode !== 'archive' || !job.archiveTable) {
    throw new ConfigError(
      `restore: job "${job.name}" (${job.source}) is in delete mode: its duplicates were deleted, not archived, ` +
        'so there is nothing to restore; expected a job in archive mode',
    );
  }
  checkKeyCount('restore', job, values.key, false);
  const dryRun = values['dry-run'] ?? false;
  const log = createLogger(env.logLevel).child({ command: 'restore' });
  const signals = installSignalHandlers((signal) =>
    log.warn({ signal }, 'stopping after the batch in hand (send again to exit at once)'),
  );
  try {
    const raw = { key: values.key, since: values.since, until: values.until };
    const done = await withClient(env.database, APPLICATION_NAME.restore, async (client) => {
      const plan = await readPlan(client, job);
      const filter = await readFilter(client, 'restore', plan, raw);
      const archiveColumns = await readArchiveColumns(client, plan);
      if (archiveColumns === undefined) return { filter, result: undefined };
      const columns = await readRestoreColumns(client, plan, archiveColumns);
      const result = await restoreArchived(client, plan, columns, filter, {
        dryRun,
        log,
        signal: signals.signal,
      });
      return { filter, result };
    });
    return report(job, done.filter, done.result, log);
  } finally {
    signals.remove();
  }
}

function report(job: Job, filter: ArchiveFilter, result: RestoreResult | undefined, log: Logger): number {
  const archive = formatName(job.archiveTable!);
  const table = formatName(job.table);
  const selection = describeSelection(job, filter);
  if (result === undefined) {
    process.stdout.write(
      `nothing to restore: the archive table ${archive} of job "${job.name}" does not exist yet (no run has ` +
        'archived anything)\n',
    );
    return 0;
  }
  logSummary(log, result, filter);
  if (result.outcome === 'held') {
    process.stderr.write(`${PRODUCT}: restore: ${result.reason ?? ''}\n`);
    return 1;
  }
  if (result.outcome === 'failure') {
    process.stderr.write(
      `${PRODUCT}: restore of job "${job.name}" failed: ${result.error?.message ?? 'unknown error'}; ${result.reason ?? ''}\n`,
    );
    return 1;
  }
  if (result.dryRun) {
    process.stdout.write(
      `dry run: would restore ${result.rows} row(s) of job "${job.name}" from ${archive} into ${table} ` +
        `(${selection}); nothing was changed\n`,
    );
    if (result.reason) process.stderr.write(`${PRODUCT}: restore: ${result.reason}\n`);
    return 0;
  }
  process.stdout.write(
    `restored ${result.rows} row(s) of job "${job.name}" from ${archive} into ${table} in ${result.batches} ` +
      `batch(es) (${selection})\n`,
  );
  if (result.rows > 0) {
    process.stderr.write(
      `${PRODUCT}: restore: the restored rows are consecutive duplicates again: incremental runs leave them ` +
        `(they lie behind the checkpoint), the next full pass (fullEvery, or run --full) archives them again ` +
        'unless the job changes or stops first (see "Restoring archived rows" in the README)\n',
    );
  }
  return 0;
}
