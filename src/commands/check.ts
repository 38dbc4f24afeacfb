import { readEnvironment } from '../config/environment.js';
import { loadJobs } from '../config/loadJobs.js';
import { connect } from '../db/connect.js';
import { checkDatabase, checkJob, renderReport, reportReady, type JobCheck } from '../dba/checkJob.js';
import { parseCommandArgs, requireJobsPath } from './args.js';

export const CHECK_USAGE = 'check --jobs PATH [--job NAME]...';

/**
 * The DBA's view of each job against the live database: table, indexes, tie-breaker, the
 * role's privileges, each problem with the statement that fixes it. Exit 0 when every job
 * is ready, 2 when not. It changes nothing: its session is read-only, so even a bug here
 * could not write.
 */
export async function checkCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('check', CHECK_USAGE, argv, {
    jobs: { type: 'string' },
    job: { type: 'string', multiple: true },
  });
  const path = requireJobsPath('check', CHECK_USAGE, values.jobs);
  const env = readEnvironment();
  const jobs = loadJobs(path, values.job ?? []);
  const connection = await connect(env.database, 'status-reconciler:check');
  try {
    await connection.client.query('SET default_transaction_read_only = on');
    const database = await checkDatabase(connection.client, (role) =>
      sqlCommandLine(path, values.job ?? [], role),
    );
    const checks: JobCheck[] = [];
    for (const job of jobs) checks.push(await checkJob(connection.client, job, database.role));
    process.stdout.write(renderReport(database, checks));
    return reportReady(database, checks) ? 0 : 2;
  } finally {
    await connection.close();
  }
}

/** The `sql` command line for these job files and role, quoted for a POSIX shell. */
function sqlCommandLine(path: string, only: string[], role: string): string {
  const quote = (s: string): string => (/^[\w./:@=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const jobs = only.flatMap((j) => ['--job', quote(j)]);
  return ['status-reconciler sql --jobs', quote(path), ...jobs, '--role', quote(role)].join(' ');
}
