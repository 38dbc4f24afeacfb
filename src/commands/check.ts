import { APPLICATION_NAME, PRODUCT } from '../config/product.js';
import { withClient } from '../db/connect.js';
import { checkDatabase, checkJob, renderReport, reportReady, type JobCheck } from '../dba/checkJob.js';
import { readOnlySessionStatement } from '../sql/session.js';
import { parseJobsCommand } from './args.js';

export const CHECK_USAGE = 'check --jobs PATH [--job NAME]...';

/**
 * The DBA's view of each job against the live database: table, indexes, tie-breaker, the
 * role's privileges, each problem with the statement that fixes it. Exit 0 when every job
 * is ready, 2 when not. It changes nothing: its session is read-only, so even a bug here
 * could not write.
 */
export async function checkCommand(argv: string[]): Promise<number> {
  const { path, only, env, jobs } = parseJobsCommand('check', CHECK_USAGE, argv, {});
  return withClient(env.database, APPLICATION_NAME.check, async (client) => {
    await client.query(readOnlySessionStatement());
    const database = await checkDatabase(client, (role) => sqlCommandLine(path, only, role));
    const checks: JobCheck[] = [];
    for (const job of jobs) checks.push(await checkJob(client, job, database.role));
    process.stdout.write(renderReport(database, checks));
    return reportReady(database, checks) ? 0 : 2;
  });
}

/** The `sql` command line for these job files and role, quoted for a POSIX shell. */
function sqlCommandLine(path: string, only: string[], role: string): string {
  const quote = (s: string): string => (/^[\w./:@=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const jobs = only.flatMap((j) => ['--job', quote(j)]);
  return [`${PRODUCT} sql --jobs`, quote(path), ...jobs, '--role', quote(role)].join(' ');
}
