import type pg from 'pg';
import { ConfigError, invalidField } from '../config/errors.js';
import { formatName, tieBreakerColumn, timeColumn, type Job, type QualifiedName } from '../config/job.js';
import {
  ARCHIVED_AT,
  REPEATED_ID,
  TIME_TYPES,
  type ColumnInfo,
  type JobPlan,
  type TimeType,
} from '../db/plan.js';
import { findRelationStatement, setTimeZoneStatement, tableColumnsStatement } from '../sql/catalog.js';
import { archiveProblems } from './checkArchive.js';
import { rowSecurityProblems } from './checkRowSecurity.js';
import { columnTypeProblems } from './checkTypes.js';
import { choosePredecessorLookup } from './predecessorLookup.js';
import { citusProblems, readCitus } from './citus.js';
import { readReferences, referenceProblems } from './references.js';
import { unfitError, type Unfit } from './unfit.js';

/** A table's (or partitioned table's) oid; undefined when there is no such table. */
async function findTable(client: pg.ClientBase, name: QualifiedName): Promise<number | undefined> {
  const { rows: found } = await client.query<{ oid: number; relkind: string }>(findRelationStatement(name));
  return found.find((r) => r.relkind === 'r' || r.relkind === 'p')?.oid;
}

/** A table's (or partitioned table's) columns; undefined when there is no such table. */
export async function describeTable(
  client: pg.ClientBase,
  name: QualifiedName,
): Promise<ColumnInfo[] | undefined> {
  const oid = await findTable(client, name);
  if (oid === undefined) return undefined;
  const { rows } = await client.query<ColumnInfo>(tableColumnsStatement(oid));
  return rows;
}

function pick(job: Job, field: 'key' | 'orderBy' | 'compare', columns: ColumnInfo[]): ColumnInfo[] {
  return job[field].map((name) => {
    const column = columns.find((c) => c.name === name);
    if (!column) {
      throw new ConfigError(
        `${job.source}: invalid "${field}": column "${name}" does not exist in table ${formatName(job.table)}; ` +
          `expected one of ${columns.map((c) => `"${c.name}"`).join(', ')} (names are case-sensitive)`,
      );
    }
    return column;
  });
}

/**
 * The job's timeZone, checked by the server itself: set for the transaction only, in one
 * rolled back at once, so the session is left as it was.
 */
async function checkTimeZone(client: pg.ClientBase, job: Job): Promise<void> {
  if (job.timeZone === undefined) return;
  await client.query('BEGIN');
  try {
    await client.query(setTimeZoneStatement(job.timeZone, true));
  } catch (error) {
    if ((error as { code?: string }).code === '22023') {
      const expected = 'a time zone this server knows (see pg_timezone_names)';
      throw invalidField(job.source, 'timeZone', job.timeZone, expected);
    }
    throw error;
  } finally {
    await client.query('ROLLBACK');
  }
}

/**
 * Whether the archive table exists; a new one must not clash with the columns it adds. An
 * existing one is checked with the other refusals (checkArchive.ts): the columns it lacks
 * are added before the pass when the role may (archiveColumns.ts), refused when not.
 */
async function checkArchiveTable(client: pg.ClientBase, job: Job, columns: ColumnInfo[]): Promise<boolean> {
  if (job.mode !== 'archive' || !job.archiveTable) return false;
  if (await describeTable(client, job.archiveTable)) return true;
  const clash = columns.find((c) => c.name === ARCHIVED_AT || c.name === REPEATED_ID);
  if (clash) {
    throw new ConfigError(
      `${job.source}: table ${formatName(job.table)} has a column "${clash.name}", which the archive table ` +
        `adds itself; expected a source table without "${ARCHIVED_AT}" or "${REPEATED_ID}" columns`,
    );
  }
  return false;
}

/**
 * The job's names against the live catalog: the table, its columns and their types, the time
 * zone, an existing archive table's columns. Throws ConfigError when one is wrong.
 */
export async function readPlan(client: pg.ClientBase, job: Job): Promise<JobPlan> {
  const columns = await describeTable(client, job.table);
  if (!columns) {
    throw new ConfigError(
      `${job.source}: invalid "table": ${formatName(job.table)} does not exist (or is not a table) in database ` +
        `"${(client as pg.Client).database ?? ''}"; expected an existing table, named case-sensitively as in pg_class`,
    );
  }
  const key = pick(job, 'key', columns);
  const orderBy = pick(job, 'orderBy', columns);
  const compare = pick(job, 'compare', columns);
  // Both are orderBy columns, found above.
  const column = (name: string): ColumnInfo => orderBy.find((c) => c.name === name) as ColumnInfo;
  const time = column(timeColumn(job));
  if (!TIME_TYPES.includes(time.typeName)) {
    throw new ConfigError(
      `${job.source}: invalid "orderBy": its first column "${time.name}" has type ${time.type}; ` +
        'expected timestamp with time zone, timestamp without time zone or date (the horizon applies to it)',
    );
  }
  await checkTimeZone(client, job);
  const archiveExists = await checkArchiveTable(client, job, columns);
  const tieBreaker = column(tieBreakerColumn(job));
  const predecessorLookup = await choosePredecessorLookup(
    client,
    (await findTable(client, job.table)) as number,
    { key, orderBy },
  );
  const citus = await readCitus(client, job, key);
  return {
    job,
    columns,
    key,
    orderBy,
    compare,
    time,
    tieBreaker,
    timeType: time.typeName as TimeType,
    archiveExists,
    predecessorLookup,
    ...(citus === undefined ? {} : { citus }),
  };
}

/**
 * What would make a planned job fail or go wrong once it runs: key, orderBy and compare types
 * without the operators the reconciler uses on them (src/reconcile/checkTypes.ts), an archive
 * table that cannot take the archived rows (checkArchive.ts; the columns it lacks only when
 * the role may not add them, archiveColumns.ts), row-level security that would hide rows
 * from the role (checkRowSecurity.ts), a referencing table the role cannot fully read
 * (references.ts). `check` prints each; `planJob` refuses.
 */
export async function unfitProblems(client: pg.ClientBase, plan: JobPlan): Promise<Unfit[]> {
  const references = await readReferences(client, plan);
  return [
    ...(await columnTypeProblems(client, plan.job)),
    ...(await archiveProblems(client, plan)),
    ...(await rowSecurityProblems(client, plan.job)),
    // Also re-checked by every batch (a constraint may be added while the pass runs).
    ...referenceProblems(references),
    ...(await citusProblems(client, plan, references.length)),
  ];
}

/**
 * Checks a job against the live catalog; throws ConfigError (exit 2) before anything changes,
 * naming every refusal with its fix. It changes nothing itself: once every job of a run is
 * planned, prepareJobs adds the columns an archive table lacks (followSourceColumns).
 */
export async function planJob(client: pg.ClientBase, job: Job): Promise<JobPlan> {
  const plan = await readPlan(client, job);
  const problems = await unfitProblems(client, plan);
  if (problems.some((p) => p.level === 'refuse')) throw unfitError(job, problems);
  return plan;
}
