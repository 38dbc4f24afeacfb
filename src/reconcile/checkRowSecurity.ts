import type pg from 'pg';
import { formatName, type Job, type QualifiedName } from '../config/job.js';
import { ident, qualified } from '../db/quote.js';
import { findRelationStatement, rowSecurityOwnerStatement } from '../sql/catalog.js';
import { rowSecurityActiveStatement } from '../sql/privileges.js';
import { refuse, type Unfit } from './unfit.js';

interface OwnerRow {
  role: string;
  owner: string;
  actsAsOwner: boolean;
  forced: boolean;
}

/*
 * Row-level security is active for a role when the table has it enabled and the role is
 * neither a superuser, nor BYPASSRLS, nor the owner (unless the table forces it on its owner
 * too): row_security_active() says exactly that. Whether a policy then hides rows cannot be
 * told from the catalog (a USING clause is any expression), so an active one is refused
 * however permissive its policies look, even USING (true).
 */
const WHY = {
  table:
    'its policies decide which rows the role sees, and a history judged with rows hidden from it loses real ' +
    'transitions (A, B, A with the B hidden reads A, A, and the second A would go as a duplicate)',
  archive:
    'its policies decide which rows the role may insert there (a row a policy refuses fails the whole batch) ' +
    'and which archived rows it sees',
};

function fixLines(name: QualifiedName, owner: OwnerRow): string[] {
  const bypass = `ALTER ROLE ${ident(owner.role)} BYPASSRLS;`;
  if (owner.actsAsOwner && owner.forced) {
    return [
      `ALTER TABLE ${qualified(name)} NO FORCE ROW LEVEL SECURITY;`,
      "-- (the role acts as the table's owner, to which row security then no longer applies)",
      `-- or: ${bypass}`,
    ];
  }
  return [
    bypass,
    `-- or run the reconciler as the table's owner "${owner.owner}" (row security does not apply to the ` +
      'owner, unless the table has FORCE ROW LEVEL SECURITY)',
  ];
}

/** Refuses a table (the history, or an existing archive) whose row security applies to the role. */
async function rowSecurityProblem(
  client: pg.ClientBase,
  name: QualifiedName,
  kind: keyof typeof WHY,
): Promise<Unfit | undefined> {
  const { rows: found } = await client.query<{ oid: number }>(findRelationStatement(name));
  const oid = found[0]?.oid;
  if (oid === undefined) return undefined;
  const { rows } = await client.query<{ active: boolean }>(rowSecurityActiveStatement(oid));
  if (!rows[0]?.active) return undefined;
  const { rows: owners } = await client.query<OwnerRow>(rowSecurityOwnerStatement(oid));
  const owner = owners[0] as OwnerRow;
  const what = kind === 'table' ? formatName(name) : `the archive table ${formatName(name)}`;
  return refuse(
    `row-level security is active on ${what} for role "${owner.role}": ${WHY[kind]}. ` +
      'The reconciler must see every row, and cannot tell from the catalog whether a policy shows them all ' +
      '(even USING (true)), so it refuses a table whose row security applies to its role',
    fixLines(name, owner),
  );
}

/** The history table and, in archive mode, the archive table if it exists. */
export async function rowSecurityProblems(client: pg.ClientBase, job: Job): Promise<Unfit[]> {
  const problems = [await rowSecurityProblem(client, job.table, 'table')];
  if (job.mode === 'archive' && job.archiveTable) {
    problems.push(await rowSecurityProblem(client, job.archiveTable, 'archive'));
  }
  return problems.filter((p): p is Unfit => p !== undefined);
}
