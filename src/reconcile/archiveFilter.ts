import type pg from 'pg';
import { ConfigError } from '../config/errors.js';
import type { Job } from '../config/job.js';
import type { ColumnInfo, JobPlan } from '../db/plan.js';
import { inReadTransaction } from '../db/transaction.js';
import {
  castTextStatement,
  keyCastStatement,
  windowOrderedStatement,
  type ArchiveFilter,
} from '../sql/archiveFilter.js';

export type { ArchiveFilter };

/** What the command line gave, before the server has read it. */
export interface RawFilter {
  key: string[] | undefined;
  since: string | undefined;
  until: string | undefined;
}

const ordinal = (n: number): string => `${n}${n === 1 ? 'st' : n === 2 ? 'nd' : n === 3 ? 'rd' : 'th'}`;

/**
 * `--key` given once per key column, in the job's `key` order: checked before connecting,
 * since the job file alone says how many there must be.
 */
export function checkKeyCount(command: string, job: Job, key: string[] | undefined, required: boolean): void {
  if (key === undefined && !required) return;
  const given = key ?? [];
  if (given.length === job.key.length) return;
  const got =
    given.length === 0
      ? 'no --key'
      : `${given.length} --key value(s) (${given.map((v) => JSON.stringify(v)).join(', ')})`;
  throw new ConfigError(
    `${command}: invalid --key: got ${got}; expected ${job.key.length}, one --key VALUE per column of the ` +
      `"key" of job "${job.name}", in that order: ${job.key.map((c) => `"${c}"`).join(', ')}`,
  );
}

/** A cast the server refused is a data exception (SQLSTATE class 22): bad input, not a failure. */
function isDataException(error: unknown): boolean {
  return /^22/.test((error as { code?: string }).code ?? '');
}

/**
 * The one row of a cast statement, run in the job's TimeZone; ConfigError (from `refused`,
 * given PostgreSQL's message) when the server refuses the value.
 */
async function castRow<T extends pg.QueryResultRow>(
  client: pg.ClientBase,
  job: Job,
  statement: { text: string; values: unknown[] },
  refused: (reason: string) => ConfigError,
): Promise<T | undefined> {
  try {
    const { rows } = await inReadTransaction(client, (c) => c.query<T>(statement), job.timeZone);
    return rows[0];
  } catch (error) {
    if (isDataException(error)) throw refused(`PostgreSQL says: ${(error as Error).message}`);
    throw error;
  }
}

async function castKey(client: pg.ClientBase, command: string, plan: JobPlan, key: string[]): Promise<void> {
  for (const [i, value] of key.entries()) {
    const column = plan.key[i] as ColumnInfo;
    const refused = (reason: string): ConfigError =>
      new ConfigError(
        `${command}: invalid --key: got ${JSON.stringify(value)} (the ${ordinal(i + 1)} --key, for column ` +
          `"${column.name}"); expected a value of type ${column.type}, the type of "${column.name}" in ` +
          `the table (${reason}); nothing was changed`,
      );
    const row = await castRow<{ value: string; exact: boolean }>(
      client,
      plan.job,
      keyCastStatement(column, value),
      refused,
    );
    if (row && !row.exact)
      throw refused(`the column would store it as ${JSON.stringify(row.value)}, another key`);
  }
}

async function castTime(
  client: pg.ClientBase,
  command: string,
  job: Job,
  option: string,
  value: string | undefined,
): Promise<string | undefined> {
  if (value === undefined) return undefined;
  const row = await castRow<{ value: string }>(
    client,
    job,
    castTextStatement('timestamptz', value),
    (reason) =>
      new ConfigError(
        `${command}: invalid ${option}: got ${JSON.stringify(value)}; expected a time PostgreSQL reads as ` +
          `timestamptz, such as "2026-12-01 08:00:00+00" (without an offset, in ` +
          `${job.timeZone === undefined ? "the server's TimeZone" : `the job's timeZone ${job.timeZone}`}) ` +
          `(${reason}); nothing was changed`,
      ),
  );
  return row?.value ?? value;
}

/**
 * The filter as the server reads it: each key value cast to its column's type, the window's
 * ends to timestamptz (kept in canonical form, so the statements and the messages use the
 * same moment), since before until. ConfigError (exit 2) before anything is changed.
 */
export async function readFilter(
  client: pg.ClientBase,
  command: string,
  plan: JobPlan,
  raw: RawFilter,
): Promise<ArchiveFilter> {
  if (raw.key !== undefined) await castKey(client, command, plan, raw.key);
  const since = await castTime(client, command, plan.job, '--since', raw.since);
  const until = await castTime(client, command, plan.job, '--until', raw.until);
  if (since !== undefined && until !== undefined) {
    const { rows } = await client.query<{ ordered: boolean }>(windowOrderedStatement(since, until));
    if (!rows[0]?.ordered) {
      throw new ConfigError(
        `${command}: invalid --since/--until: got --since ${JSON.stringify(raw.since)} (${since}) and --until ` +
          `${JSON.stringify(raw.until)} (${until}); expected --since before --until (the window is ` +
          '[since, until): archived_at from since on, before until); nothing was changed',
      );
    }
  }
  return { key: raw.key, since, until };
}
