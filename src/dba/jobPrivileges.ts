import type pg from 'pg';
import { formatName, type QualifiedName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { rowSecurityProblems } from '../reconcile/checkRowSecurity.js';
import { findRelation, schemaExists } from './catalog.js';
import { fail, ok, unfitFinding, type Finding } from './finding.js';
import {
  ARCHIVE_TABLE_PRIVILEGES,
  grantLine,
  historyTablePrivileges,
  lacking,
  lackingOnTable,
} from './privileges.js';
import type { RoleInfo } from './role.js';

/** One object's privileges: ✓, or ✗ naming what is missing with the GRANTs that add it. */
async function needs(
  client: pg.ClientBase,
  role: RoleInfo,
  what: string,
  schema: string,
  table: { oid: number; name: QualifiedName; privileges: string[] } | undefined,
  schemaPrivileges: string[],
): Promise<Finding> {
  const onSchema = await lacking(client, 'schema', schema, schemaPrivileges);
  const onTable = table ? await lackingOnTable(client, table.oid, table.privileges) : [];
  const held = [
    `${schemaPrivileges.join(', ')} on schema ${schema}`,
    ...(table ? [`${table.privileges.join(', ')} on ${formatName(table.name)}`] : []),
  ];
  if (onSchema.length === 0 && onTable.length === 0) return ok(`${what}: ${held.join('; ')}`);
  const missing = [
    ...(onSchema.length > 0 ? [`${onSchema.join(', ')} on schema ${schema}`] : []),
    ...(table && onTable.length > 0 ? [`${onTable.join(', ')} on ${formatName(table.name)}`] : []),
  ];
  return fail(`${what}: role "${role.role}" lacks ${missing.join(' and ')}`, [
    ...(onSchema.length > 0 ? [grantLine(onSchema, `SCHEMA ${ident(schema)}`, role.role)] : []),
    ...(table && onTable.length > 0 ? [grantLine(onTable, `TABLE ${qualified(table.name)}`, role.role)] : []),
  ]);
}

/** What one job needs on its own tables: the history table and, in archive mode, the archive. */
export async function jobPrivilegeFindings(
  client: pg.ClientBase,
  plan: JobPlan,
  role: RoleInfo,
): Promise<Finding[]> {
  const job = plan.job;
  const findings: Finding[] = [];
  const tableOid = (await findRelation(client, job.table))?.oid as number;
  findings.push(
    await needs(
      client,
      role,
      `read, lock and delete rows of ${formatName(job.table)}`,
      job.table.schema,
      { oid: tableOid, name: job.table, privileges: historyTablePrivileges(job) },
      ['USAGE'],
    ),
  );

  // A row the role cannot see is a row the scan skips: the rows around it would then look
  // consecutive, and a real transition (A, B, A) could be taken for a duplicate. `run`
  // refuses it with the same text (planJob); the archive's is checked there too.
  findings.push(...(await rowSecurityProblems(client, job)).map(unfitFinding));

  if (job.mode === 'archive' && job.archiveTable) {
    const archive = job.archiveTable;
    const archiveOid = (await findRelation(client, archive))?.oid;
    if (archiveOid !== undefined) {
      findings.push(
        await needs(
          client,
          role,
          `archive into ${formatName(archive)}`,
          archive.schema,
          { oid: archiveOid, name: archive, privileges: ARCHIVE_TABLE_PRIVILEGES },
          ['USAGE'],
        ),
      );
    } else if (await schemaExists(client, archive.schema)) {
      const finding = await needs(
        client,
        role,
        `create the archive table ${formatName(archive)} on the first run`,
        archive.schema,
        undefined,
        ['USAGE', 'CREATE'],
      );
      if (finding.level === 'fail') {
        finding.fix.push('-- or create the archive table beforehand: see `status-reconciler sql`');
      }
      findings.push(finding);
    } else {
      findings.push(
        fail(`the schema ${archive.schema} of the archive table ${formatName(archive)} does not exist`, [
          `CREATE SCHEMA ${ident(archive.schema)};`,
          grantLine(['USAGE', 'CREATE'], `SCHEMA ${ident(archive.schema)}`, role.role),
        ]),
      );
    }
  }
  return findings;
}
