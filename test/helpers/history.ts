import type pg from 'pg';
import { expect } from 'vitest';
import { createLogger } from '../../src/log.js';
import { parseJob, type Job } from '../../src/config/job.js';
import { migrate } from '../../src/reconcile/migrate.js';
import { runJobs } from '../../src/reconcile/runJobs.js';
import type { JobResult } from '../../src/reconcile/result.js';
import type { TestDatabase } from './database.js';

export const silentLogger = createLogger('silent');

/** The job of the standard history table (createHistoryTable), as a user writes it in a job file. */
export const STANDARD_JOB = {
  name: 'object-status',
  table: 'public.object_status',
  key: ['object_id'],
  orderBy: ['start_date', 'id'],
  compare: ['status_id'],
  settleSeconds: 0,
} as const;

/** A job object as a user would write it, validated by the real parser. */
export function makeJob(fields: Record<string, unknown>): Job {
  return parseJob({ ...STANDARD_JOB, ...fields }, 'test job');
}

export async function runOnce(
  db: TestDatabase,
  job: Job,
  options: { dryRun?: boolean; full?: boolean } = {},
): Promise<JobResult> {
  const [result] = await runJobs(db.config, [job], {
    dryRun: options.dryRun ?? false,
    full: options.full ?? false,
    logger: silentLogger,
  });
  if (!result) throw new Error('runJobs returned no result');
  if (result.outcome === 'failure') throw result.error ?? new Error('run failed');
  return result;
}

/** The standard history table of the brief, with a shadow copy of every insert (the oracle). */
export async function createHistoryTable(db: TestDatabase, table = 'public.object_status'): Promise<void> {
  await db.query(`
    CREATE TABLE ${table} (
      id bigserial PRIMARY KEY,
      object_id integer NOT NULL,
      status_id integer,
      start_date timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ON ${table} (object_id, start_date, id);
    CREATE TABLE ${table}_shadow AS TABLE ${table} WITH NO DATA;
    CREATE FUNCTION ${table}_copy() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO ${table}_shadow SELECT NEW.*; RETURN NEW; END $$;
    CREATE TRIGGER copy_every_insert AFTER INSERT ON ${table}
      FOR EACH ROW EXECUTE FUNCTION ${table}_copy();
  `);
}

/**
 * The standard history table afresh (createHistoryTable), and no reconciler schema: drops what
 * an earlier test left, the table with its shadow, archive and trigger function, and
 * `alsoDrop`, tables of the test's own (those that reference the history, say).
 */
export async function resetHistoryTable(db: TestDatabase, alsoDrop: readonly string[] = []): Promise<void> {
  const tables = [...alsoDrop, 'object_status', 'object_status_shadow', 'object_status_archive'];
  await db.query(`DROP SCHEMA IF EXISTS status_reconciler CASCADE;
    DROP TABLE IF EXISTS ${tables.join(', ')} CASCADE;
    DROP FUNCTION IF EXISTS object_status_copy;`);
  await createHistoryTable(db);
}

export interface HistoryRow {
  /** The unique tie-breaker, as decimal text. */
  id: string;
  /** The object's key, any text that is equal exactly when the keys are. */
  key: string;
  /** The compare values, any text that is equal exactly when they are (null == null). */
  status: string | null;
  /** The timestamp in microseconds since the epoch, as decimal text. */
  at: string;
}

/** SQL that reads a standard history table as HistoryRow. */
export function historyRowsSql(table: string): string {
  return `SELECT id::text AS id, object_id::text AS key, status_id::text AS status,
                 (extract(epoch FROM start_date) * 1000000)::bigint::text AS at
            FROM ${table}`;
}

/**
 * The independent oracle: collapse computed in TypeScript, not SQL. Rows sorted by
 * (key, at, id); a row is kept when it is the first of its key or its status differs from
 * the row just before it (null equal to null). Returns the kept ids.
 */
export function collapse(rows: HistoryRow[]): Set<string> {
  const byBigInt = (a: string, b: string): number =>
    BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;
  const sorted = [...rows].sort(
    (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || byBigInt(a.at, b.at) || byBigInt(a.id, b.id),
  );
  const kept = new Set<string>();
  let previous: HistoryRow | undefined;
  for (const row of sorted) {
    if (!previous || previous.key !== row.key || previous.status !== row.status) kept.add(row.id);
    previous = row;
  }
  return kept;
}

/**
 * The oracle check on a history table made by createHistoryTable: it keeps exactly the
 * collapse of every row ever inserted (its trigger-fed shadow). With an archive table,
 * every other inserted row is there, once, and no row is in both. Returns the kept ids.
 */
export async function expectCollapsedShadow(
  db: TestDatabase,
  table = 'object_status',
  archive?: string,
): Promise<Set<string>> {
  const shadow = await db.query<HistoryRow>(historyRowsSql(`${table}_shadow`));
  const kept = new Set(
    (await db.query<{ id: string }>(`SELECT id::text AS id FROM ${table}`)).map((r) => r.id),
  );
  expect(kept).toEqual(collapse(shadow));
  if (archive !== undefined) {
    const archived = (await db.query<{ id: string }>(`SELECT id::text AS id FROM ${archive}`)).map(
      (r) => r.id,
    );
    expect(archived.filter((id) => kept.has(id))).toEqual([]);
    expect(new Set(archived).size).toBe(archived.length);
    expect([...kept, ...archived].sort()).toEqual(shadow.map((r) => r.id).sort());
  }
  return kept;
}

/**
 * Another runner holding the job's lease: a session of its own takes it (applying the
 * reconciler's migrations first, as a runner would) and keeps it until the returned client
 * ends; the lease names that session, so it counts as alive while the client is open.
 */
export async function holdLease(db: TestDatabase, job: string): Promise<pg.Client> {
  const holder = await db.connect();
  await migrate(holder);
  await holder.query(
    `INSERT INTO status_reconciler.lease
       (job, holder, token, acquired_at, renewed_at, expires_at, backend_pid, backend_start)
     SELECT $1, 'another runner', 1, now(), now(), now() + interval '1 hour', pid, backend_start
       FROM pg_stat_activity WHERE pid = pg_backend_pid()
     ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, token = status_reconciler.lease.token + 1,
       expires_at = EXCLUDED.expires_at, backend_pid = EXCLUDED.backend_pid, backend_start = EXCLUDED.backend_start`,
    [job],
  );
  return holder;
}
