import { ConfigError } from '../config/errors.js';
import { readEnvironment } from '../config/environment.js';
import { loadJobs } from '../config/loadJobs.js';
import { connect } from '../db/connect.js';
import { readJobStatus, renderJobStatus } from '../status.js';
import { parseCommandArgs, requireJobsPath } from './args.js';

export const STATUS_USAGE = 'status --jobs PATH [--job NAME]... [--runs N]';

/** Prints each job's recent runs, collision ratios and gap histogram. Reads only. */
export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('status', STATUS_USAGE, argv, {
    jobs: { type: 'string' },
    job: { type: 'string', multiple: true },
    runs: { type: 'string', default: '5' },
  });
  const path = requireJobsPath('status', STATUS_USAGE, values.jobs);
  const runs = Number(values.runs);
  if (!/^\d+$/.test(values.runs ?? '') || runs < 1 || runs > 1000) {
    throw new ConfigError(
      `status: invalid --runs: got "${values.runs}"; expected a whole number from 1 to 1000`,
    );
  }
  const env = readEnvironment();
  const jobs = loadJobs(path, values.job ?? []);
  const connection = await connect(env.database, 'status-reconciler');
  try {
    const blocks: string[] = [];
    for (const job of jobs) blocks.push(renderJobStatus(await readJobStatus(connection.client, job, runs)));
    process.stdout.write(`${blocks.join('\n\n')}\n`);
  } finally {
    await connection.close();
  }
  return 0;
}
