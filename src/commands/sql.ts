import { ConfigError } from '../config/errors.js';
import { loadJobs } from '../config/loadJobs.js';
import { DEFAULT_ROLE, sqlScript } from '../dba/sqlScript.js';
import { VIEWS_MODES, viewsScript, type ViewsMode } from '../dba/viewScript.js';
import { JOB_OPTIONS, parseCommandArgs, requireJobsPath } from './args.js';

export const SQL_USAGE = 'sql --jobs PATH [--job NAME]... [--role NAME | --views recreate|drop|create]';

/**
 * Prints the SQL an administrator applies so a least-privilege role can run the jobs: the
 * reconciler's schema, archive tables, the role and its grants, and views for readers.
 * With --views, only the reader views: dropped and created again around a migration of the
 * history table (src/dba/viewScript.ts). Reads only the job files: it needs no database and
 * never connects.
 */
export async function sqlCommand(argv: string[]): Promise<number> {
  // No environment: `sql` never connects, so nothing of it applies.
  const { values } = parseCommandArgs('sql', SQL_USAGE, argv, {
    ...JOB_OPTIONS,
    role: { type: 'string' },
    views: { type: 'string' },
  });
  const path = requireJobsPath('sql', SQL_USAGE, values.jobs);
  const views = values.views;
  if (views !== undefined) {
    if (!(VIEWS_MODES as readonly string[]).includes(views)) {
      throw new ConfigError(
        `sql: invalid --views: got ${JSON.stringify(views)}; expected ${VIEWS_MODES.join(', ')} ` +
          '(recreate: drop and create the reader views in one transaction; drop or create: one half, for a ' +
          'transaction of your own around a migration)',
      );
    }
    if (values.role !== undefined) {
      throw new ConfigError(
        "sql: --role and --views do not go together (the views' script creates no role and grants it nothing); " +
          'expected one of them',
      );
    }
    const jobs = loadJobs(path, values.job ?? []);
    process.stdout.write(viewsScript(jobs, views as ViewsMode, path));
    return 0;
  }
  const role = values.role ?? DEFAULT_ROLE;
  // Any name is safe once quoted; these are the ones PostgreSQL itself would refuse or cut.
  if (role === '' || Buffer.byteLength(role) > 63 || [...role].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new ConfigError(
      `sql: invalid --role: got ${JSON.stringify(role)}; expected a role name of 1 to 63 bytes without control characters`,
    );
  }
  const jobs = loadJobs(path, values.job ?? []);
  process.stdout.write(sqlScript(jobs, role, path));
  return 0;
}
