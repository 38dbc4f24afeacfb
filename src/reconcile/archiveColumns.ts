import type pg from 'pg';
import { formatName, type QualifiedName } from '../config/job.js';
import { inShortTransaction } from '../db/transaction.js';
import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import {
  addArchiveColumnsStatement,
  addColumnText,
  columnDefinitionsStatement,
  tableOwnerStatement,
  type ArchiveAddition,
} from '../sql/archiveColumns.js';
import { findRelationStatement, tableColumnsStatement } from '../sql/catalog.js';
import { refuse, type Unfit } from './unfit.js';

/*
 * An archive table follows its source's new columns. The application adds a column to the
 * history table (a Django AddField); the archive, made once as the source was then, lacks
 * it, and the archiving INSERT, which names every source column, would fail. So before the
 * pass, a run whose role may alter the archive adds each missing column there: the
 * source's type and collation, nullable and without a default (the rows archived before
 * have no value for it; NOT NULL would fail on them). A role that may not is refused (exit
 * 2) with the ALTER TABLE an administrator applies. Columns the source no longer has stay in
 * the archive with the values archived so far (checkArchive.ts refuses one the INSERT cannot
 * leave empty), and a type that differs is checkArchive's too: neither is changed here.
 */

/** The columns an existing archive table lacks, and whether the role may add them. */
export interface MissingArchiveColumns {
  archive: QualifiedName;
  columns: ArchiveAddition[];
  role: string;
  owner: string;
  mayAlter: boolean;
}

interface OwnerRow {
  role: string;
  owner: string;
  mayAlter: boolean;
}

/**
 * What the archiving INSERT fills and an existing archive table lacks (the source's columns,
 * archived_at, repeated_id), with each one's definition; undefined when nothing is missing,
 * or the job does not archive into an existing table.
 */
export async function readMissingArchiveColumns(
  client: pg.ClientBase,
  plan: JobPlan,
): Promise<MissingArchiveColumns | undefined> {
  const archive = plan.job.archiveTable;
  if (plan.job.mode !== 'archive' || !archive || !plan.archiveExists) return undefined;
  const { rows: found } = await client.query<{ oid: number; relkind: string }>(
    findRelationStatement(archive),
  );
  const oid = found.find((r) => r.relkind === 'r' || r.relkind === 'p')?.oid;
  if (oid === undefined) return undefined;
  const { rows: present } = await client.query<{ name: string }>(tableColumnsStatement(oid));
  const has = (name: string): boolean => present.some((c) => c.name === name);
  const lacking = plan.columns.filter((c) => !has(c.name)).map((c) => c.name);
  const { rows: sourceColumns } = await client.query<ArchiveAddition>(
    columnDefinitionsStatement(plan.job.table, lacking),
  );
  const columns: ArchiveAddition[] = [
    ...sourceColumns,
    ...(has(ARCHIVED_AT) ? [] : [{ name: ARCHIVED_AT, type: 'timestamp with time zone', collation: null }]),
    ...(has(REPEATED_ID) ? [] : [{ name: REPEATED_ID, type: plan.tieBreaker.type, collation: null }]),
  ];
  if (columns.length === 0) return undefined;
  const { rows: owners } = await client.query<OwnerRow>(tableOwnerStatement(oid));
  const owner = owners[0] ?? { role: '', owner: '', mayAlter: false };
  return { archive, columns, ...owner };
}

/** `"note" (text), "flag" (boolean)`: the columns as messages name them. */
export function describeColumns(missing: MissingArchiveColumns): string {
  return missing.columns.map((c) => `"${c.name}" (${c.type})`).join(', ');
}

/** The statements that add them, one a column, as an administrator applies them. */
export function addColumnLines(missing: MissingArchiveColumns): string[] {
  return missing.columns.map((c) => addColumnText(missing.archive, c));
}

/** A refusal when the role may not add the columns itself: what is missing, and the ALTER TABLE. */
export function missingColumnsProblem(plan: JobPlan, missing: MissingArchiveColumns | undefined): Unfit[] {
  if (!missing || missing.mayAlter) return [];
  return [
    refuse(
      `invalid "archiveTable": ${formatName(missing.archive)} lacks column(s) ${describeColumns(missing)}, which ` +
        `the reconciler fills (every column of ${formatName(plan.job.table)}, "${ARCHIVED_AT}" and "${REPEATED_ID}"), ` +
        `and role "${missing.role}" may not add them: the table belongs to "${missing.owner}", and ALTER TABLE ` +
        'needs its owner (or a member of that role). An administrator adds them (nullable, without a default: the ' +
        'rows archived before have no value for them); then each run works again',
      [
        ...addColumnLines(missing),
        '-- (each takes an ACCESS EXCLUSIVE lock on the archive table for a moment; it rewrites nothing)',
      ],
    ),
  ];
}

/** How the added columns are logged: the table, each column and type, and the statement. */
function logAdded(
  log: Logger | undefined,
  plan: JobPlan,
  missing: MissingArchiveColumns,
  dryRun: boolean,
): void {
  const archive = formatName(missing.archive);
  for (const column of missing.columns) {
    const fields = { job: plan.job.name, archiveTable: archive, column: column.name, type: column.type };
    if (dryRun) {
      log?.info(
        { ...fields, dryRun: true },
        `dry run: would add column "${column.name}" (${column.type}) to the archive table ${archive}, ` +
          `which lacks it; a run that is not a dry run adds it (ALTER TABLE, an ACCESS EXCLUSIVE lock for a moment)`,
      );
    } else {
      log?.info(
        fields,
        `added column "${column.name}" (${column.type}) to the archive table ${archive}: ` +
          `it follows ${formatName(plan.job.table)} (the rows archived before have NULL there)`,
      );
    }
  }
}

/**
 * Before the pass: adds to an existing archive table the columns it lacks (planJob has
 * refused the job when the role may not). One ALTER TABLE, in a short transaction with the
 * job's lock_timeout: it takes an ACCESS EXCLUSIVE lock on the archive table, so it gives up
 * rather than queue behind a reader of the archive (and make every later reader queue
 * behind it). When it fails, an error line says why: the pass then runs, and its batches
 * fail on the missing column (the job's outcome is failure, exit 1) until a later run adds
 * it. A dry run changes nothing: it logs what it would add.
 */
export async function followSourceColumns(
  client: pg.ClientBase,
  plan: JobPlan,
  options: { dryRun: boolean; log?: Logger | undefined },
): Promise<void> {
  const missing = await readMissingArchiveColumns(client, plan);
  if (!missing?.mayAlter) return;
  if (options.dryRun) {
    logAdded(options.log, plan, missing, true);
    return;
  }
  const statement = addArchiveColumnsStatement(missing.archive, missing.columns);
  try {
    await inShortTransaction(client, plan.job, (c) => c.query(statement));
  } catch (error) {
    options.log?.error(
      { job: plan.job.name, archiveTable: formatName(missing.archive), err: error, fix: statement.text },
      `could not add column(s) ${describeColumns(missing)} to the archive table ${formatName(missing.archive)} ` +
        `(ALTER TABLE waits at most lockTimeoutMs, ${plan.job.lockTimeoutMs} ms, for its ACCESS EXCLUSIVE lock): ` +
        'archiving fails until they are there; the next run tries again',
    );
    return;
  }
  logAdded(options.log, plan, missing, false);
}
