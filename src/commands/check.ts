import { APPLICATION_NAME, PRODUCT } from '../config/product.js';
import { withQueryDeadline } from '../db/queryDeadline.js';
import { checkDatabase, checkJob, renderReport, reportReady, type JobCheck } from '../dba/checkJob.js';
import { parseJobsCommand } from './args.js';

export const CHECK_USAGE = 'check --jobs PATH [--job NAME]...';

/**
 * The DBA's view of each job against the live database: table, indexes, tie-breaker, the
 * role's privileges, each problem with the statement that fixes it. Exit 0 when every job
 * is ready, 2 when not. It changes nothing: it only reads. (It no longer makes its session
 * read-only: behind PgBouncer's transaction pooling that setting would stay on a pooled
 * server connection and make other clients' transactions read-only.) Each query has a
 * deadline (src/db/queryDeadline.ts): a stalled network fails it, exit 1, naming the host.
 */
export async function checkCommand(argv: string[]): Promise<number> {
  const { path, only, env, jobs } = parseJobsCommand('check', CHECK_USAGE, argv, {});
  return withQueryDeadline(env.database, APPLICATION_NAME.check, 'check', async (client) => {
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
