import type pg from 'pg';
import { formatName } from '../config/job.js';
import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { SQLSTATE } from '../db/sqlstate.js';
import { assignProbeStatement, type ArchiveValue } from '../sql/assignProbe.js';
import { findRelationStatement, insertColumnsStatement } from '../sql/catalog.js';
import { missingColumnsProblem, readMissingArchiveColumns } from './archiveColumns.js';
import { caution, refuse, type Unfit } from './unfit.js';

/** 42804: parse analysis found no assignment cast from the value's type to the column's. */
const DATATYPE_MISMATCH = '42804';

function sqlState(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

interface ArchiveColumn {
  name: string;
  type: string;
  notNull: boolean;
  hasDefault: boolean;
  identity: string;
  generated: string;
}

/** A column the reconciler fills in each archived row: its type, and what it puts there. */
interface Filled {
  name: string;
  type: string;
  value: ArchiveValue;
  from: string;
}

function filledColumns(plan: JobPlan): Filled[] {
  const source = formatName(plan.job.table);
  return [
    ...plan.columns.map((c) => ({
      name: c.name,
      type: c.type,
      value: { column: c.name },
      from: `column "${c.name}" of ${source}`,
    })),
    { name: ARCHIVED_AT, type: 'timestamp with time zone', value: 'now' as const, from: 'now()' },
    {
      name: REPEATED_ID,
      type: plan.tieBreaker.type,
      value: { column: plan.tieBreaker.name },
      from: `the tie-breaker "${plan.tieBreaker.name}" of ${source}`,
    },
  ];
}

/** A column the INSERT leaves out: refused when it can only be NULL and may not be. */
function leftOut(plan: JobPlan, column: ArchiveColumn): Unfit | undefined {
  if (!column.notNull || column.hasDefault || column.identity !== '' || column.generated !== '')
    return undefined;
  const archive = plan.job.archiveTable!;
  const target = `${qualified(archive)} ALTER COLUMN ${ident(column.name)}`;
  return refuse(
    `invalid "archiveTable": column "${column.name}" of ${formatName(archive)} is NOT NULL without a default, ` +
      `and the reconciler does not fill it (it fills the columns of ${formatName(plan.job.table)}, ` +
      `"${ARCHIVED_AT}" and "${REPEATED_ID}"): every archived row would be refused`,
    [
      `ALTER TABLE ${target} DROP NOT NULL;`,
      `-- or give it a default: ALTER TABLE ${target} SET DEFAULT ...;`,
    ],
  );
}

/** A column it fills: refused when it takes no value, or none of that type; a warning when cast. */
async function filled(
  client: pg.ClientBase,
  plan: JobPlan,
  fill: Filled,
  column: ArchiveColumn,
): Promise<Unfit | undefined> {
  const archive = plan.job.archiveTable!;
  const target = `${qualified(archive)} ALTER COLUMN ${ident(column.name)}`;
  const head = `invalid "archiveTable": column "${column.name}" of ${formatName(archive)}`;
  if (column.identity === 'a' || column.generated !== '') {
    const kind = column.generated !== '' ? 'a generated column' : 'GENERATED ALWAYS AS IDENTITY';
    return refuse(`${head} is ${kind}: it cannot take the value the reconciler puts there (${fill.from})`, [
      `ALTER TABLE ${target} ${column.generated !== '' ? 'DROP EXPRESSION' : 'DROP IDENTITY'};`,
    ]);
  }
  if (column.type === fill.type) return undefined;
  const alter = `ALTER TABLE ${target} TYPE ${fill.type};`;
  try {
    await client.query(assignProbeStatement(archive, column.name, plan.job.table, fill.value));
  } catch (error) {
    if (sqlState(error) === DATATYPE_MISMATCH) {
      return refuse(
        `${head} has type ${column.type}, but the reconciler fills it with ${fill.from}, of type ${fill.type}, ` +
          'and PostgreSQL cannot assign one to the other (no assignment cast)',
        [`${alter}  -- add USING ... if its rows need converting`],
      );
    }
    // Denied: the role may not insert there (check names the grant). The types are fine:
    // parse analysis, which adds the cast, comes before the privilege check.
    if (sqlState(error) !== SQLSTATE.insufficientPrivilege) throw error;
  }
  return caution(
    `column "${column.name}" of ${formatName(archive)} has type ${column.type}, while it is filled with ` +
      `${fill.from}, of type ${fill.type}: ` +
      'each archived value is converted (an assignment cast), which can fail or lose precision for some values',
    [alter],
  );
}

/**
 * An existing archive table: each column the archiving INSERT fills must be there (or the
 * role must be able to add it before the pass: archiveColumns.ts), each it leaves out must be
 * able to stay empty, and each it fills must take the value, of its type.
 */
export async function archiveProblems(client: pg.ClientBase, plan: JobPlan): Promise<Unfit[]> {
  const archive = plan.job.archiveTable;
  if (plan.job.mode !== 'archive' || !archive || !plan.archiveExists) return [];
  const { rows: found } = await client.query<{ oid: number }>(findRelationStatement(archive));
  const oid = found[0]?.oid;
  if (oid === undefined) return [];
  const { rows: columns } = await client.query<ArchiveColumn>(insertColumnsStatement(oid));
  const fills = filledColumns(plan);
  const problems: (Unfit | undefined)[] = [
    ...missingColumnsProblem(plan, await readMissingArchiveColumns(client, plan)),
  ];
  for (const column of columns) {
    const fill = fills.find((f) => f.name === column.name);
    problems.push(fill ? await filled(client, plan, fill, column) : leftOut(plan, column));
  }
  return problems.filter((p): p is Unfit => p !== undefined);
}
