import { PRODUCT } from '../config/product.js';
import { warnMissingIndexes } from '../dba/indexWarnings.js';
import { createLogger, standardOutput } from '../log.js';
import { pushAfterRun } from '../metrics/publish.js';
import { runJobs } from '../reconcile/runJobs.js';
import { installSignalHandlers } from '../signals.js';
import { terminalProgress } from '../terminal/progressBar.js';
import { parseJobsCommand } from './args.js';

export const RUN_USAGE =
  'run --jobs PATH [--job NAME]... [--dry-run] [--full] [--no-progress] [--shard-index I --shard-count N]';

/** One pass over the jobs, a push per job when PUSHGATEWAY_URL is set; returns the exit code. */
export async function runCommand(argv: string[]): Promise<number> {
  const { values, env, jobs } = parseJobsCommand('run', RUN_USAGE, argv, {
    'dry-run': { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    'no-progress': { type: 'boolean', default: false },
  });
  // A progress bar on stderr when it is a terminal; the log on stdout is the same either way.
  const progress = values['no-progress'] ? undefined : terminalProgress(process.stderr);
  const logger = createLogger(env.logLevel, progress?.beside(standardOutput()));
  const signals = installSignalHandlers((signal) =>
    logger.warn({ signal }, 'stopping after the batch in hand (send again to exit at once)'),
  );
  try {
    const gateway = env.pushgatewayUrl;
    const results = await runJobs(env.database, jobs, {
      dryRun: values['dry-run'] ?? false,
      full: values.full ?? false,
      logger,
      signal: signals.signal,
      historyDays: env.historyDays,
      inspect: warnMissingIndexes(logger),
      afterJob: gateway ? (result) => pushAfterRun(env.database, gateway, result, logger) : undefined,
      progress,
    });
    const failed = results.filter((r) => r.outcome === 'failure');
    for (const r of failed) {
      process.stderr.write(`${PRODUCT}: job "${r.job}" failed: ${r.error?.message ?? 'unknown error'}\n`);
    }
    return failed.length > 0 ? 1 : 0;
  } finally {
    progress?.close();
    signals.remove();
  }
}
