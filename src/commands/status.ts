import { ConfigError } from '../config/errors.js';
import { APPLICATION_NAME } from '../config/product.js';
import { withClient } from '../db/connect.js';
import { inReadTransaction } from '../db/transaction.js';
import { readJobStatus, renderJobStatus } from '../status.js';
import { parseJobsCommand } from './args.js';

export const STATUS_USAGE = 'status --jobs PATH [--job NAME]... [--runs N]';

/** Prints each job's recent runs, collision ratios and gap histogram. Reads only. */
export async function statusCommand(argv: string[]): Promise<number> {
  const { values, env, jobs } = parseJobsCommand(
    'status',
    STATUS_USAGE,
    argv,
    { runs: { type: 'string', default: '5' } },
    (v) => {
      if (!/^\d+$/.test(String(v.runs)) || Number(v.runs) < 1 || Number(v.runs) > 1000) {
        throw new ConfigError(
          `status: invalid --runs: got "${String(v.runs)}"; expected a whole number from 1 to 1000`,
        );
      }
    },
  );
  const runs = Number(values.runs);
  const blocks = await withClient(env.database, APPLICATION_NAME.writer, (session) =>
    inReadTransaction(session, async (client) => {
      const rendered: string[] = [];
      for (const job of jobs) rendered.push(renderJobStatus(await readJobStatus(client, job, runs)));
      return rendered;
    }),
  );
  process.stdout.write(`${blocks.join('\n\n')}\n`);
  return 0;
}
