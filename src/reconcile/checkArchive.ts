import type pg from 'pg';
import { formatName } from '../config/job.js';
import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { SQLSTATE } from '../db/sqlstate.js';
import {
  archiveChecksStatement,
  archiveNullabilityStatement,
  archivePartitioningStatement,
  type ArchiveCheck,
  type ArchiveNullability,
  type ArchivePartitioning,
} from '../sql/archiveFit.js';
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
  /**
   * Whether the value can be NULL: a history column other than key and orderBy (the scan
   * only takes rows whose key and orderBy columns are not NULL), unless it refuses NULL itself.
   */
  nullable: boolean;
}

function filledColumns(plan: JobPlan, nullability: readonly ArchiveNullability[]): Filled[] {
  const source = formatName(plan.job.table);
  const neverNull = new Set([...plan.key, ...plan.orderBy].map((c) => c.name));
  for (const n of nullability) if (n.inSource && n.sourceNotNull) neverNull.add(n.name);
  return [
    ...plan.columns.map((c) => ({
      name: c.name,
      type: c.type,
      value: { column: c.name },
      from: `column "${c.name}" of ${source}`,
      nullable: !neverNull.has(c.name),
    })),
    {
      name: ARCHIVED_AT,
      type: 'timestamp with time zone',
      value: 'now' as const,
      from: 'now()',
      nullable: false,
    },
    {
      name: REPEATED_ID,
      type: plan.tieBreaker.type,
      value: { column: plan.tieBreaker.name },
      from: `the tie-breaker "${plan.tieBreaker.name}" of ${source}`,
      nullable: false,
    },
  ];
}

/** How a column refuses NULL (`is NOT NULL`, or its type a NOT NULL domain), in words; else undefined. */
function refusesNull(column: ArchiveColumn, nullability: ArchiveNullability | undefined): string | undefined {
  if (column.notNull) return 'is NOT NULL';
  const domain = nullability?.notNullDomain;
  if (!domain) return undefined;
  return domain === column.type
    ? `has type ${column.type}, a domain that is NOT NULL`
    : `has type ${column.type}, over the domain ${domain}, which is NOT NULL`;
}

/** The fix of a column that refuses NULL: DROP NOT NULL, or for a domain's, a type that allows it. */
function allowNull(
  target: string,
  column: ArchiveColumn,
  nullability: ArchiveNullability | undefined,
): string[] {
  if (column.notNull) return [`ALTER TABLE ${target} DROP NOT NULL;`];
  const base = nullability?.baseType ?? '...';
  return [
    `ALTER TABLE ${target} TYPE ${base};`,
    `-- or, for every column of that type: ALTER DOMAIN ${nullability?.notNullDomain ?? '...'} DROP NOT NULL;`,
  ];
}

/** A column the INSERT leaves out: refused when it can only be NULL and may not be. */
function leftOut(
  plan: JobPlan,
  column: ArchiveColumn,
  nullability: ArchiveNullability | undefined,
): Unfit | undefined {
  const refusal = refusesNull(column, nullability);
  if (!refusal || column.hasDefault || column.identity !== '' || column.generated !== '') return undefined;
  const archive = plan.job.archiveTable!;
  const target = `${qualified(archive)} ALTER COLUMN ${ident(column.name)}`;
  return refuse(
    `invalid "archiveTable": column "${column.name}" of ${formatName(archive)} ${refusal}` +
      `${column.notNull ? '' : ','} without a default, ` +
      `and the reconciler does not fill it (it fills the columns of ${formatName(plan.job.table)}, ` +
      `"${ARCHIVED_AT}" and "${REPEATED_ID}"): every archived row would be refused`,
    [
      ...allowNull(target, column, nullability),
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
  nullability: ArchiveNullability | undefined,
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
  const refusal = refusesNull(column, nullability);
  if (refusal && fill.nullable) {
    const source = `${qualified(plan.job.table)} ALTER COLUMN ${ident(fill.name)}`;
    return refuse(
      `${head} ${refusal}, but the reconciler fills it with ${fill.from}, which can be NULL: ` +
        'an archived duplicate whose value is NULL would be refused, and its batch with it',
      [
        ...allowNull(target, column, nullability),
        `-- or, if it never is NULL there: ALTER TABLE ${source} SET NOT NULL;`,
      ],
    );
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
  const { rows: source } = await client.query<{ oid: number }>(findRelationStatement(plan.job.table));
  const { rows: nullability } = await client.query<ArchiveNullability>(
    archiveNullabilityStatement(oid, source[0]?.oid ?? 0),
  );
  const fills = filledColumns(plan, nullability);
  const problems: (Unfit | undefined)[] = [
    ...missingColumnsProblem(plan, await readMissingArchiveColumns(client, plan)),
  ];
  for (const column of columns) {
    const fill = fills.find((f) => f.name === column.name);
    const nulls = nullability.find((n) => n.name === column.name);
    problems.push(fill ? await filled(client, plan, fill, column, nulls) : leftOut(plan, column, nulls));
  }
  const { rows: checks } = await client.query<ArchiveCheck>(archiveChecksStatement(oid));
  problems.push(...checks.map((c) => checkCaution(plan, c)));
  const { rows: partitioning } = await client.query<ArchivePartitioning>(archivePartitioningStatement(oid));
  problems.push(...partitioning.filter((p) => !p.hasDefault).map((p) => partitionCaution(plan, p)));
  return problems.filter((p): p is Unfit => p !== undefined);
}

/**
 * A CHECK constraint on the archive table, or on a column's domain: the catalog cannot tell
 * which rows pass it, and a duplicate that does not fails the INSERT of its batch (rolled
 * back: nothing of it removed), and the run with it, every run until it is changed.
 */
function checkCaution(plan: JobPlan, check: ArchiveCheck): Unfit {
  const archive = plan.job.archiveTable!;
  const whose =
    check.domain === null
      ? `${formatName(archive)} has CHECK constraint "${check.name}" (${check.definition})`
      : `column "${check.column}" of ${formatName(archive)} has type ${check.domain}, whose CHECK constraint ` +
        `"${check.name}" (${check.definition}) applies`;
  return caution(
    `${whose}: an archived duplicate that fails it fails its batch (rolled back, nothing of it removed), ` +
      'and the run with it, every run until the constraint or the row changes',
    check.domain === null
      ? [
          `-- if archived rows need not pass it: ALTER TABLE ${qualified(archive)} DROP CONSTRAINT ${ident(check.name)};`,
        ]
      : [
          `-- if archived rows need not pass it: ALTER DOMAIN ${check.domain} DROP CONSTRAINT ${ident(check.name)};`,
        ],
  );
}

/** A partitioned archive table without a DEFAULT partition: a row that fits no partition fails. */
function partitionCaution(plan: JobPlan, partitioning: ArchivePartitioning): Unfit {
  const archive = plan.job.archiveTable!;
  const partition = qualified({ schema: archive.schema, name: `${archive.name}_default`.slice(0, 63) });
  return caution(
    `${formatName(archive)} is partitioned (${partitioning.key}) without a DEFAULT partition: an archived ` +
      'duplicate that no partition takes fails its batch (rolled back, nothing of it removed), and the run ' +
      'with it, every run until a partition takes it (none yet for its key values, or a NULL key)',
    [
      `CREATE TABLE ${partition} PARTITION OF ${qualified(archive)} DEFAULT;`,
      '-- or create the partitions the archived rows need before each run',
    ],
  );
}
