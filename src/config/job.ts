import { stateKey, type Shard } from './shard.js';
import { validate as isValidCron } from 'node-cron';
import { durationSeconds } from './duration.js';
import { ConfigError, invalidField } from './errors.js';

/** A schema-qualified catalog name, exactly as pg_namespace and pg_class spell it. */
export interface QualifiedName {
  schema: string;
  name: string;
}

export type JobMode = 'delete' | 'archive';

/** One validated job: every field has its final type and default. */
export interface Job {
  name: string;
  table: QualifiedName;
  key: string[];
  orderBy: string[];
  compare: string[];
  mode: JobMode;
  archiveTable: QualifiedName | undefined;
  settleSeconds: number;
  schedule: string;
  batchSize: number;
  /** Session TimeZone for a `timestamp without time zone` orderBy column. */
  timeZone: string | undefined;
  /**
   * `fullEvery` in seconds: a run this long after the job's last completed full pass is a
   * full pass, which finds the duplicates incremental passes cannot see.
   */
  fullEverySeconds: number;
  /**
   * `runTimeout` in seconds: the deadline of one run of the job (lease to run record), after
   * which it fails naming what it was waiting for, and its connections are cut.
   */
  runTimeoutSeconds: number;
  lockTimeoutMs: number;
  /** A pause after each committed batch, so that the pass bounds its share of the server's writes. */
  batchPauseMs: number;
  statementTimeoutMs: number;
  /** Where the job was declared, for messages. */
  source: string;
  /** The shard of its objects this process takes (src/config/shard.ts); set at run time, never in a job file. */
  shard?: Shard;
}

/** Under which name the job's state is kept: its name, or one per shard (src/config/shard.ts). */
export function jobStateKey(job: Pick<Job, 'name' | 'shard'>): string {
  return stateKey(job.name, job.shard);
}

export const JOB_DEFAULTS = {
  mode: 'delete' as JobMode,
  settleSeconds: 30,
  schedule: '*/5 * * * *',
  batchSize: 5000,
  lockTimeoutMs: 2000,
  batchPauseMs: 0,
  statementTimeoutMs: 30000,
  fullEvery: '24h',
  runTimeout: '1h',
};

const ALLOWED_FIELDS = [
  'name',
  'description',
  'table',
  'key',
  'orderBy',
  'compare',
  'mode',
  'archiveTable',
  'settleSeconds',
  'schedule',
  'batchSize',
  'timeZone',
  'fullEvery',
  'runTimeout',
  'lockTimeoutMs',
  'batchPauseMs',
  'statementTimeoutMs',
] as const;

/*
 * Names are checked against the catalog later and always quoted, so quoting alone would
 * make any string safe. We still accept only plain names: a job file that carries
 * quotes, spaces or semicolons is far more likely a mistake (or an injection attempt)
 * than a real table, and refusing it early gives a clearer message.
 */
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const PLAIN_NAME_EXPECTED =
  'a plain catalog name (letters, digits, "_" or "$", starting with a letter or "_", at most 63 characters, no SQL quoting)';
const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function isPlainName(value: unknown): value is string {
  return typeof value === 'string' && PLAIN_NAME.test(value) && Buffer.byteLength(value) <= 63;
}

function qualifiedName(source: string, field: string, value: unknown): QualifiedName {
  const expected = `"schema.table" or "table" (looked up in public), each part ${PLAIN_NAME_EXPECTED}`;
  if (typeof value !== 'string') throw invalidField(source, field, value, expected);
  const parts = value.split('.');
  if (parts.length > 2 || !parts.every(isPlainName)) {
    throw invalidField(source, field, value, expected);
  }
  return parts.length === 2
    ? { schema: parts[0] as string, name: parts[1] as string }
    : { schema: 'public', name: parts[0] as string };
}

function columnList(source: string, field: string, value: unknown): string[] {
  const expected = `a non-empty array of distinct column names, each ${PLAIN_NAME_EXPECTED}`;
  if (!Array.isArray(value) || value.length === 0 || !value.every(isPlainName)) {
    throw invalidField(source, field, value, expected);
  }
  if (new Set(value).size !== value.length) throw invalidField(source, field, value, expected);
  return value;
}

function integerIn(
  source: string,
  field: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidField(source, field, value, `a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Validates one raw job object; `source` names the file (and array index) for messages. */
export function parseJob(raw: unknown, source: string): Job {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${source}: a job must be a JSON object; got ${JSON.stringify(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  for (const field of Object.keys(obj)) {
    if (!(ALLOWED_FIELDS as readonly string[]).includes(field)) {
      throw new ConfigError(
        `${source}: unknown field "${field}"; expected only ${ALLOWED_FIELDS.join(', ')}`,
      );
    }
  }

  if (typeof obj.name !== 'string' || !JOB_NAME.test(obj.name)) {
    throw invalidField(
      source,
      'name',
      obj.name,
      'a job name of letters, digits, "_", "." or "-", starting with a letter or digit, at most 63 characters',
    );
  }
  const label = `${source} (job "${obj.name}")`;
  if (obj.description !== undefined && typeof obj.description !== 'string') {
    throw invalidField(label, 'description', obj.description, 'a string');
  }

  const table = qualifiedName(label, 'table', obj.table);
  const key = columnList(label, 'key', obj.key);
  const orderBy = columnList(label, 'orderBy', obj.orderBy);
  const compare = columnList(label, 'compare', obj.compare);
  const owner = new Map<string, string>();
  for (const [field, columns] of [
    ['key', key],
    ['orderBy', orderBy],
    ['compare', compare],
  ] as const) {
    for (const column of columns) {
      const earlier = owner.get(column);
      if (earlier !== undefined) {
        throw invalidField(
          label,
          field,
          columns,
          `no column already in "${earlier}" ("${column}" is in both): "key", "orderBy" and "compare" share no column`,
        );
      }
      owner.set(column, field);
    }
  }

  // An explicit null is rejected, not taken as the default: "mode": null must not delete.
  const mode = obj.mode === undefined ? JOB_DEFAULTS.mode : obj.mode;
  if (mode !== 'delete' && mode !== 'archive') {
    throw invalidField(label, 'mode', obj.mode, '"delete" or "archive"');
  }
  let archiveTable: QualifiedName | undefined;
  if (mode === 'archive') {
    if (obj.archiveTable === undefined) {
      throw invalidField(
        label,
        'archiveTable',
        undefined,
        'a table name when "mode" is "archive" (created on the first run if missing)',
      );
    }
    archiveTable = qualifiedName(label, 'archiveTable', obj.archiveTable);
    if (archiveTable.schema === table.schema && archiveTable.name === table.name) {
      throw invalidField(label, 'archiveTable', obj.archiveTable, 'a table other than "table"');
    }
  } else if (obj.archiveTable !== undefined) {
    throw invalidField(label, 'archiveTable', obj.archiveTable, 'no archiveTable when "mode" is "delete"');
  }

  const schedule = obj.schedule === undefined ? JOB_DEFAULTS.schedule : obj.schedule;
  if (typeof schedule !== 'string' || !isValidCron(schedule)) {
    throw invalidField(label, 'schedule', obj.schedule, 'a cron expression such as "*/5 * * * *"');
  }
  if (
    obj.timeZone !== undefined &&
    (typeof obj.timeZone !== 'string' || !/^[A-Za-z0-9_+\-/]+$/.test(obj.timeZone))
  ) {
    throw invalidField(
      label,
      'timeZone',
      obj.timeZone,
      'a PostgreSQL time zone name such as "UTC" or "Europe/Paris"',
    );
  }

  return {
    name: obj.name,
    table,
    key,
    orderBy,
    compare,
    mode,
    archiveTable,
    settleSeconds: integerIn(label, 'settleSeconds', obj.settleSeconds, JOB_DEFAULTS.settleSeconds, 0, 86400),
    schedule,
    batchSize: integerIn(label, 'batchSize', obj.batchSize, JOB_DEFAULTS.batchSize, 1, 100000),
    timeZone: obj.timeZone as string | undefined,
    fullEverySeconds: durationSeconds(
      label,
      'fullEvery',
      obj.fullEvery === undefined ? JOB_DEFAULTS.fullEvery : obj.fullEvery,
      {
        minSeconds: 1,
        maxSeconds: 365 * 86400,
      },
    ),
    runTimeoutSeconds: durationSeconds(
      label,
      'runTimeout',
      obj.runTimeout === undefined ? JOB_DEFAULTS.runTimeout : obj.runTimeout,
      { minSeconds: 1, maxSeconds: 7 * 86400 },
    ),
    lockTimeoutMs: integerIn(label, 'lockTimeoutMs', obj.lockTimeoutMs, JOB_DEFAULTS.lockTimeoutMs, 1, 60000),
    batchPauseMs: integerIn(label, 'batchPauseMs', obj.batchPauseMs, JOB_DEFAULTS.batchPauseMs, 0, 60000),
    statementTimeoutMs: integerIn(
      label,
      'statementTimeoutMs',
      obj.statementTimeoutMs,
      JOB_DEFAULTS.statementTimeoutMs,
      1,
      3600000,
    ),
    source: label,
  };
}

/** The first orderBy column: the timestamp (or date) the horizon applies to. */
export function timeColumn(job: Job): string {
  return job.orderBy[0] as string;
}

/** The last orderBy column: unique, it orders rows with equal times (archived rows name it). */
export function tieBreakerColumn(job: Job): string {
  return job.orderBy[job.orderBy.length - 1] as string;
}

export function formatName(name: QualifiedName): string {
  return `${name.schema}.${name.name}`;
}
