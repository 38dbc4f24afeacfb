import type pg from 'pg';
import { ConfigError, invalidField } from '../config/errors.js';
import { formatName, type Job, type QualifiedName } from '../config/job.js';

export interface ColumnInfo {
  name: string;
  /** format_type(): the exact type to cast text back to, typmod included. */
  type: string;
  /** pg_type.typname, e.g. timestamptz. */
  typeName: string;
}

export type TimeType = 'timestamptz' | 'timestamp' | 'date';
const TIME_TYPES: readonly string[] = ['timestamptz', 'timestamp', 'date'];

/** The extra columns of an archive table. */
export const ARCHIVED_AT = 'archived_at';
export const REPEATED_ID = 'repeated_id';

/** A job checked against the catalog: every name exists, with its type. */
export interface JobPlan {
  job: Job;
  columns: ColumnInfo[];
  key: ColumnInfo[];
  orderBy: ColumnInfo[];
  compare: ColumnInfo[];
  timeType: TimeType;
  /** Whether the archive table already exists (archive mode only). */
  archiveExists: boolean;
}

export async function describeTable(
  client: pg.Client,
  name: QualifiedName,
): Promise<ColumnInfo[] | undefined> {
  const { rows: found } = await client.query<{ oid: number }>(
    `SELECT c.oid FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [name.schema, name.name],
  );
  if (found.length === 0) return undefined;
  const { rows } = await client.query<ColumnInfo>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname AS "typeName"
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [found[0]?.oid],
  );
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
 * The job's timeZone, checked by the server itself (zone names, abbreviations and POSIX
 * specs all count): SET LOCAL in a transaction rolled back at once leaves the session as it was.
 */
async function checkTimeZone(client: pg.Client, job: Job): Promise<void> {
  if (job.timeZone === undefined) return;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT set_config('TimeZone', $1, true)`, [job.timeZone]);
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

/** Checks a job against the live catalog; throws ConfigError (exit 2) before anything changes. */
export async function planJob(client: pg.Client, job: Job): Promise<JobPlan> {
  const columns = await describeTable(client, job.table);
  if (!columns) {
    throw new ConfigError(
      `${job.source}: invalid "table": ${formatName(job.table)} does not exist (or is not a table) in database ` +
        `"${client.database ?? ''}"; expected an existing table, named case-sensitively as in pg_class`,
    );
  }
  const key = pick(job, 'key', columns);
  const orderBy = pick(job, 'orderBy', columns);
  const compare = pick(job, 'compare', columns);
  const first = orderBy[0] as ColumnInfo;
  if (!TIME_TYPES.includes(first.typeName)) {
    throw new ConfigError(
      `${job.source}: invalid "orderBy": its first column "${first.name}" has type ${first.type}; ` +
        'expected timestamp with time zone, timestamp without time zone or date (the horizon applies to it)',
    );
  }
  await checkTimeZone(client, job);
  let archiveExists = false;
  if (job.mode === 'archive' && job.archiveTable) {
    const archiveColumns = await describeTable(client, job.archiveTable);
    if (archiveColumns) {
      archiveExists = true;
      const missing = [...columns.map((c) => c.name), ARCHIVED_AT, REPEATED_ID].filter(
        (name) => !archiveColumns.some((a) => a.name === name),
      );
      if (missing.length > 0) {
        throw new ConfigError(
          `${job.source}: invalid "archiveTable": ${formatName(job.archiveTable)} exists but lacks column(s) ` +
            `${missing.map((m) => `"${m}"`).join(', ')}; expected every column of ${formatName(job.table)} ` +
            `plus "${ARCHIVED_AT}" and "${REPEATED_ID}" (add them with ALTER TABLE, or name a new table)`,
        );
      }
    } else {
      const clash = columns.find((c) => c.name === ARCHIVED_AT || c.name === REPEATED_ID);
      if (clash) {
        throw new ConfigError(
          `${job.source}: table ${formatName(job.table)} has a column "${clash.name}", which the archive table ` +
            `adds itself; expected a source table without "${ARCHIVED_AT}" or "${REPEATED_ID}" columns`,
        );
      }
    }
  }
  return { job, columns, key, orderBy, compare, timeType: first.typeName as TimeType, archiveExists };
}
