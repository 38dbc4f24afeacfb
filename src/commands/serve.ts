import { createLogger } from '../log.js';
import { serve } from '../serve.js';
import { installSignalHandlers } from '../signals.js';
import { parseJobsCommand } from './args.js';

export const SERVE_USAGE = 'serve --jobs PATH [--job NAME]... [--shard-index I --shard-count N]';

/** Runs until SIGTERM/SIGINT, then stops gracefully and returns 0. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { env, jobs } = parseJobsCommand('serve', SERVE_USAGE, argv, {});
  const logger = createLogger(env.logLevel);
  const serving = await serve({
    database: env.database,
    jobs,
    logger,
    port: env.metricsPort,
    historyDays: env.historyDays,
  });
  await new Promise<void>((resolve) => {
    const signals = installSignalHandlers((signal) => {
      logger.info(
        { signal },
        'stopping: no new runs; the batch in hand finishes (send again to exit at once)',
      );
      serving
        .stop()
        .catch((error: unknown) => logger.error({ err: error }, 'stop failed'))
        .finally(() => {
          signals.remove();
          // A second signal during the stop still exits at once (see signals.ts).
          resolve();
        });
    });
  });
  logger.info('stopped');
  return 0;
}
