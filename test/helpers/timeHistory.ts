import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { expect } from 'vitest';
import { buildRegistry } from '../../src/metrics/registry.js';
import { readJobMetrics } from '../../src/metrics/snapshot.js';
import { logLines, runCli, type CliResult } from './cli.js';
import type { TestDatabase } from './database.js';
import { collapse, createHistoryTable, type HistoryRow } from './history.js';

/*
 * The standard history table (and its trigger-fed shadow, the oracle) with another type of time
 * column, an oracle that also reads infinite times, and the run summary as the CLI prints it.
 */

export type TimeType = 'timestamptz' | 'timestamp' | 'date';

/**
 * createHistoryTable, then its start_date (and the shadow's) as `type`, still defaulting to
 * now(): for `timestamp` and `date` that is the writer's local time and current_date, in the
 * writer's session TimeZone.
 */
export async function createTimeHistoryTable(
  db: TestDatabase,
  type: TimeType,
  table = 'public.object_status',
): Promise<void> {
  await createHistoryTable(db, table);
  if (type === 'timestamptz') return;
  for (const t of [table, `${table}_shadow`]) {
    await db.query(`ALTER TABLE ${t} ALTER COLUMN start_date DROP DEFAULT,
                      ALTER COLUMN start_date TYPE ${type},
                      ALTER COLUMN start_date SET DEFAULT now()`);
  }
}

const MIN_BIGINT = '-9223372036854775808';
const MAX_BIGINT = '9223372036854775807';

/** historyRowsSql with infinite times too: -infinity first, infinity last. */
export function timeRowsSql(table: string): string {
  return `SELECT id::text AS id, object_id::text AS key, status_id::text AS status,
                 CASE WHEN start_date = '-infinity' THEN '${MIN_BIGINT}'
                      WHEN start_date = 'infinity' THEN '${MAX_BIGINT}'
                      ELSE (extract(epoch FROM start_date) * 1000000)::bigint::text END AS at
            FROM ${table}`;
}

/**
 * The oracle, when some rows may not be judged yet: the table keeps exactly the collapse of
 * every row ever inserted (the shadow) plus the rows at or after `horizon` (the last pass's
 * horizon, as its summary printed it), which no pass has judged. Returns the kept ids.
 */
export async function expectSettledCollapse(
  db: TestDatabase,
  table: string,
  horizon: string | undefined,
): Promise<Set<string>> {
  const shadow = await db.query<HistoryRow>(timeRowsSql(`${table}_shadow`));
  const unsettled =
    horizon === undefined
      ? []
      : (
          await db.query<{ id: string }>(
            `SELECT id::text AS id FROM ${table}_shadow WHERE start_date >= $1`,
            [horizon],
          )
        ).map((r) => r.id);
  const kept = new Set(
    (await db.query<{ id: string }>(`SELECT id::text AS id FROM ${table}`)).map((r) => r.id),
  );
  expect([...kept].sort()).toEqual([...new Set([...collapse(shadow), ...unsettled])].sort());
  return kept;
}

/** The statuses of one object, in history order. */
export async function statusesOf(db: TestDatabase, table: string, objectId = 1): Promise<number[]> {
  const rows = await db.query<{ status_id: number }>(
    `SELECT status_id FROM ${table} WHERE object_id = $1 ORDER BY start_date, id`,
    [objectId],
  );
  return rows.map((r) => r.status_id);
}

export interface Summary {
  job: string;
  outcome: string;
  scope: string;
  duplicatesFound: number;
  duplicatesRemoved: number;
  missedByIncremental?: number;
  horizon?: string;
  horizonLagSeconds?: number;
  reason?: string;
  [field: string]: unknown;
}

/** The summary line of `job` in a run's stdout; throws with the whole output when there is none. */
export function summaryOf(result: CliResult, job: string): Summary {
  const line = logLines(result.stdout).find((l) => l.job === job && 'outcome' in l);
  if (!line) {
    throw new Error(
      `no summary line for job "${job}" (exit ${result.code}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return line as Summary;
}

/** `run --jobs FILE` through the built CLI; expects exit 0 and returns each job's summary. */
export async function runJobsCli(
  db: TestDatabase,
  jobFile: string,
  jobs: string[],
  args: string[] = [],
): Promise<Record<string, Summary>> {
  const result = await runCli(['run', '--jobs', jobFile, ...args], { DATABASE_URL: db.url });
  expect(result.code, `run exited ${result.code}:\n${result.stderr}\n${result.stdout}`).toBe(0);
  return Object.fromEntries(jobs.map((job) => [job, summaryOf(result, job)]));
}

/** runJobsCli for one job (the standard one by default): its summary. */
export async function runJobCli(
  db: TestDatabase,
  jobFile: string,
  job = 'object-status',
  args: string[] = [],
): Promise<Summary> {
  return (await runJobsCli(db, jobFile, [job], args))[job] as Summary;
}

/** The Prometheus exposition built from what the database stores (as `serve` and the push do). */
export async function exposition(db: TestDatabase, jobs: string[]): Promise<string> {
  const client = new pg.Client(db.config);
  await client.connect();
  try {
    return await buildRegistry(await readJobMetrics(client, jobs)).metrics();
  } finally {
    await client.end();
  }
}

/** One sample of an exposition, e.g. sample(text, 'status_reconciler_x_total', 'reconcile_job="j"'). */
export function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  if (!line) throw new Error(`no sample ${name}{${labels}} in\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The database server's clock (the CLI's now() comes from it), as a Date. */
export async function serverNow(db: TestDatabase): Promise<Date> {
  const [row] = await db.query<{ ms: string }>(
    `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms`,
  );
  return new Date(Number(row?.ms));
}

/** Waits until the server's clock has passed `moment` (a wall-clock moment, so a sleep). */
export async function sleepUntil(db: TestDatabase, moment: Date): Promise<void> {
  for (;;) {
    const left = moment.getTime() - (await serverNow(db)).getTime();
    if (left < 0) return;
    await sleep(left + 20);
  }
}

/** Rolls back every prepared transaction of the database (they outlive their connections). */
export async function rollbackPreparedTransactions(db: TestDatabase): Promise<string[]> {
  const prepared = await db.query<{ gid: string }>(
    `SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE database = current_database()`,
  );
  for (const { gid } of prepared) {
    await db.query(`ROLLBACK PREPARED ${pg.escapeLiteral(gid)}`);
  }
  return prepared.map((p) => p.gid);
}
