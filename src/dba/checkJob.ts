import type pg from 'pg';
import { ConfigError } from '../config/errors.js';
import { formatName, type Job } from '../config/job.js';
import type { ColumnInfo } from '../db/plan.js';
import { describeColumns, readMissingArchiveColumns } from '../reconcile/archiveColumns.js';
import { archiveProblems } from '../reconcile/checkArchive.js';
import { columnTypeProblems } from '../reconcile/checkTypes.js';
import { readPlan } from '../reconcile/planJob.js';
import { fail, isReady, ok, renderFinding, unfitFinding, type Finding } from './finding.js';
import { indexFindings, readTableIndexes } from './indexes.js';
import { jobPrivilegeFindings } from './jobPrivileges.js';
import { referenceFindings } from './referenceFindings.js';
import { readRole, roleFindings, type RoleInfo } from './role.js';
import { stateSchemaFindings } from './stateSchemaFindings.js';
import { timeFindings } from './timeFindings.js';
import { timeoutFindings } from './timeoutFindings.js';

/** What `check` found for one job. */
export interface JobCheck {
  job: Job;
  findings: Finding[];
}

/** What `check` found for the role and database, shared by every job. */
export interface DatabaseCheck {
  role: RoleInfo;
  findings: Finding[];
}

/**
 * The role, the server and the reconciler's own schema. `sqlCommand` gives the `sql` command
 * line to suggest for a role, so the fix names the caller's own job files.
 */
export async function checkDatabase(
  client: pg.ClientBase,
  sqlCommand: (role: string) => string,
): Promise<DatabaseCheck> {
  const role = await readRole(client);
  return {
    role,
    findings: [
      ...roleFindings(role),
      ...(await timeoutFindings(client)),
      ...(await stateSchemaFindings(client, role, sqlCommand)),
    ],
  };
}

function columns(list: ColumnInfo[], withTypes: boolean): string {
  return list.map((c) => (withTypes ? `${c.name} (${c.type})` : c.name)).join(', ');
}

/**
 * One job against the live catalog. A job the catalog refuses (readPlan's ConfigError: no
 * such table, column or type) is reported as not ready with that message, not thrown; what
 * `run` would refuse after that (planJob's unfitProblems) is reported each with its fix.
 */
export async function checkJob(client: pg.Client, job: Job, role: RoleInfo): Promise<JobCheck> {
  let plan;
  try {
    plan = await readPlan(client, job);
  } catch (error) {
    if (error instanceof ConfigError) return { job, findings: [fail(error.message)] };
    throw error;
  }
  const findings: Finding[] = [
    ok(
      `table ${formatName(job.table)}: key ${columns(plan.key, false)}; ` +
        `orderBy ${columns(plan.orderBy, true)}; compare ${columns(plan.compare, false)}`,
    ),
  ];
  findings.push(...(await columnTypeProblems(client, job)).map(unfitFinding));
  findings.push(...(await timeFindings(client, plan)));
  findings.push(...indexFindings(plan, await readTableIndexes(client, plan)));
  findings.push(...(await jobPrivilegeFindings(client, plan, role)));
  findings.push(...(await referenceFindings(client, plan)));
  const missing = await readMissingArchiveColumns(client, plan);
  if (missing?.mayAlter) {
    findings.push(
      ok(
        `the next run adds column(s) ${describeColumns(missing)} to ${formatName(missing.archive)}, which lacks ` +
          'them: nullable, without a default (rows archived before have no value there), in one ALTER TABLE ' +
          'that takes an ACCESS EXCLUSIVE lock on the archive table for a moment',
      ),
    );
  }
  findings.push(...(await archiveProblems(client, plan)).map(unfitFinding));
  return { job, findings };
}

function jobTitle(job: Job): string {
  const mode =
    job.mode === 'archive' && job.archiveTable
      ? `archive mode into ${formatName(job.archiveTable)}`
      : 'delete mode';
  return `job "${job.name}": ${formatName(job.table)}, ${mode}`;
}

export function reportReady(database: DatabaseCheck, jobs: readonly JobCheck[]): boolean {
  return isReady(database.findings) && jobs.every((j) => isReady(j.findings));
}

/** The readable report: one block for the database, one per job, then the verdict. */
export function renderReport(database: DatabaseCheck, jobs: readonly JobCheck[]): string {
  const blocks: string[] = [];
  blocks.push(
    [
      `database "${database.role.database}" as role "${database.role.role}"`,
      ...database.findings.map(renderFinding),
    ].join('\n'),
  );
  for (const check of jobs) {
    const verdict = isReady(check.findings) ? '  → ready' : '  → not ready';
    blocks.push([jobTitle(check.job), ...check.findings.map(renderFinding), verdict].join('\n'));
  }
  const problems: string[] = [];
  if (!isReady(database.findings)) problems.push('the database setup (every job needs it)');
  const notReady = jobs.filter((j) => !isReady(j.findings)).map((j) => `"${j.job.name}"`);
  if (notReady.length > 0) problems.push(`job(s) ${notReady.join(', ')}`);
  const verdict =
    problems.length === 0
      ? `ready: ${jobs.length} job(s) can run as role "${database.role.role}"`
      : `not ready: ${problems.join(' and ')}; apply the fixes (✗) as an administrator, then check again`;
  blocks.push(verdict);
  return `${blocks.join('\n\n')}\n`;
}
