import { expect } from 'vitest';
import { buildRegistry } from '../../src/metrics/registry.js';
import { readJobMetrics } from '../../src/metrics/snapshot.js';
import { logLines, type CliResult } from './cli.js';
import type { TestDatabase } from './database.js';
import { collapse, historyRowsSql, type HistoryRow } from './history.js';

/**
 * objects x rowsPerObject rows of the standard history table, dated in 2024 (settled), one
 * second apart, statuses in stretches of 5 (0 0 0 0 0 1 1 1 1 1 2 ...): 80% duplicates.
 */
export async function seedStretches(db: TestDatabase, objects: number, rowsPerObject: number): Promise<void> {
  await db.query(
    `INSERT INTO object_status (object_id, status_id, start_date)
     SELECT o, (i / 5) % 3, timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => i)
       FROM generate_series(1, $1) o, generate_series(0, $2 - 1) i ORDER BY o, i`,
    [objects, rowsPerObject],
  );
}

/** The id of an object's n-th row (from 1) in history order. */
export async function nthRowId(
  db: TestDatabase,
  objectId: number,
  n: number,
  table = 'object_status',
): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM ${table} WHERE object_id = $1 ORDER BY start_date, id OFFSET $2 LIMIT 1`,
    [objectId, n - 1],
  );
  if (!row) throw new Error(`object ${objectId} has no row ${n}`);
  return row.id;
}

/**
 * The oracle with rows the reconciler rightly left in place: the table keeps exactly the
 * collapse of every row ever inserted (its trigger-fed shadow) plus `alsoKept` (duplicates
 * kept because they are referenced or locked; keeping one, equal to its stretch, changes no
 * other row's verdict); with an archive table, every other inserted row is there, once.
 */
export async function expectCollapsedKeeping(
  db: TestDatabase,
  alsoKept: readonly string[],
  options: { table?: string; archive?: string } = {},
): Promise<void> {
  const table = options.table ?? 'object_status';
  const shadow = await db.query<HistoryRow>(historyRowsSql(`${table}_shadow`));
  const collapsed = collapse(shadow);
  for (const id of alsoKept) expect(collapsed.has(id), `row ${id} is a duplicate`).toBe(false);
  const kept = new Set(
    (await db.query<{ id: string }>(`SELECT id::text AS id FROM ${table}`)).map((r) => r.id),
  );
  expect([...kept].sort()).toEqual([...collapsed, ...alsoKept].sort());
  if (options.archive !== undefined) {
    const archived = (await db.query<{ id: string }>(`SELECT id::text AS id FROM ${options.archive}`)).map(
      (r) => r.id,
    );
    expect(new Set(archived).size).toBe(archived.length);
    expect([...kept, ...archived].sort()).toEqual(shadow.map((r) => r.id).sort());
  }
}

/** The job's summary line of a run. */
export function summaryOf(result: CliResult, job = 'object-status'): Record<string, unknown> {
  const line = logLines(result.stdout).find((l) => l.job === job && 'outcome' in l);
  expect(line, result.stdout + result.stderr).toBeDefined();
  return line as Record<string, unknown>;
}

/** The warning lines (level 40) of a run that carry `field`. */
export function warningsWith(result: CliResult, field: string): Record<string, unknown>[] {
  return logLines(result.stdout).filter((l) => l.level === 40 && field in l);
}

export function expectExit(result: CliResult, code: number): void {
  expect(result.code, result.stdout + result.stderr).toBe(code);
}

/**
 * What the job's latest run recorded of its blocked rows, in run_history and as the metrics
 * read back from it (what a Pushgateway or /metrics shows after the pod is gone).
 */
export async function expectBlockedRecorded(
  db: TestDatabase,
  expected: { referencedKept: number; lockedSkipped: number },
  job = 'object-status',
): Promise<void> {
  const [row] = await db.query<{ referenced_kept: string; locked_skipped: string }>(
    `SELECT referenced_kept, locked_skipped FROM status_reconciler.run_history
      WHERE job = $1 ORDER BY started_at DESC, id DESC LIMIT 1`,
    [job],
  );
  expect({
    referencedKept: Number(row?.referenced_kept),
    lockedSkipped: Number(row?.locked_skipped),
  }).toEqual(expected);
  const client = await db.connect();
  try {
    const text = await buildRegistry(await readJobMetrics(client, [job])).metrics();
    const value = (name: string): number | undefined => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`status_reconciler_${name}{reconcile_job="${job}"}`));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    expect({
      referencedKept: value('duplicates_referenced_kept'),
      lockedSkipped: value('duplicates_locked_skipped'),
    }).toEqual(expected);
  } finally {
    await client.end();
  }
}
