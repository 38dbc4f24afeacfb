import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Job } from '../../src/config/job.js';
import { buildRegistry } from '../../src/metrics/registry.js';
import { readJobMetrics } from '../../src/metrics/snapshot.js';
import { runJobs } from '../../src/reconcile/runJobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  createHistoryTable,
  historyRowsSql,
  holdLease,
  makeJob,
  runOnce,
  silentLogger,
  type HistoryRow,
} from '../helpers/history.js';
import { promtoolCheckMetrics } from '../helpers/prometheus.js';
import { requireTool } from '../helpers/tools.js';

/*
 * Metric values after scripted runs, read back from the real database. Each test has a database
 * of its own and asserts only what follows from the rows it inserted.
 */

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase('metricvalues');
  await createHistoryTable(db);
});
afterEach(async () => {
  await db.drop();
});

async function exposition(jobs: string[]): Promise<string> {
  const client = new pg.Client(db.config);
  await client.connect();
  try {
    return await buildRegistry(await readJobMetrics(client, jobs)).metrics();
  } finally {
    await client.end();
  }
}

function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  if (!line) throw new Error(`no sample ${name}{${labels}} in\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The job's cumulative duplicate-gap buckets as exposed: [upper bound (Infinity for +Inf), count]. */
function gapBuckets(text: string, job: string): [number, number][] {
  const prefix = `status_reconciler_duplicate_gap_seconds_bucket{reconcile_job="${job}",le="`;
  return text
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .map((line) => {
      const le = line.slice(prefix.length, line.indexOf('"', prefix.length));
      return [le === '+Inf' ? Infinity : Number(le), Number(line.slice(line.lastIndexOf(' ') + 1))];
    });
}

/**
 * The oracle for the gap histogram, from every row ever inserted (the trigger-fed shadow), in
 * TypeScript: for each row whose status equals the one just before it in its object's history,
 * the seconds between the two. (Right for histories without runs of three equal statuses, as in
 * these tests: a third one would be measured from whichever row the reconciler kept.)
 */
async function insertedGaps(): Promise<number[]> {
  const rows = await db.query<HistoryRow>(historyRowsSql('object_status_shadow'));
  rows.sort(
    (a, b) => Number(a.key) - Number(b.key) || Number(a.at) - Number(b.at) || Number(a.id) - Number(b.id),
  );
  const gaps: number[] = [];
  rows.forEach((row, i) => {
    const previous = rows[i - 1];
    if (previous && previous.key === row.key && previous.status === row.status) {
      gaps.push((Number(row.at) - Number(previous.at)) / 1e6);
    }
  });
  return gaps.sort((a, b) => a - b);
}

/** A run that finds the job's lease held by another runner: outcome skipped. */
async function skippedRun(job: Job): Promise<void> {
  const holder = await holdLease(db, job.name);
  try {
    const [skipped] = await runJobs(db.config, [job], { dryRun: false, full: false, logger: silentLogger });
    expect(skipped?.outcome).toBe('skipped');
  } finally {
    await holder.end();
  }
}

describe('metric values after scripted runs', () => {
  it('counters are the running totals; the gap histogram buckets races and repeats', async () => {
    // Object 1: a race (A then A 2 ms later). Object 2: a genuine repeat 2 hours later.
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (1, 1, timestamptz '2026-01-01 00:00:00'), (1, 1, timestamptz '2026-01-01 00:00:00.002'),
      (2, 1, timestamptz '2026-01-01 00:00:00'), (2, 1, timestamptz '2026-01-01 02:00:00'),
      (3, 1, timestamptz '2026-01-01 00:00:00'), (3, 2, timestamptz '2026-01-01 00:00:01')`);
    const job = makeJob({});
    const first = await runOnce(db, job);
    expect(first).toMatchObject({ rowsExamined: 6, duplicatesFound: 2, duplicatesRemoved: 2 });
    await db.query(`INSERT INTO object_status (object_id, status_id) VALUES (3, 2), (3, 3)`);
    const second = await runOnce(db, job);
    expect(second).toMatchObject({ rowsExamined: 2, duplicatesFound: 1, duplicatesRemoved: 1 });

    // A skipped run: another session holds the job's lock.
    await skippedRun(job);

    const text = await exposition(['object-status', 'never-ran']);
    const l = 'reconcile_job="object-status"';
    expect(sample(text, 'status_reconciler_rows_examined_total', l)).toBe(8);
    expect(sample(text, 'status_reconciler_duplicates_found_total', l)).toBe(3);
    expect(sample(text, 'status_reconciler_duplicates_removed_total', l)).toBe(3);
    expect(sample(text, 'status_reconciler_runs_total', `${l},outcome="success"`)).toBe(2);
    expect(sample(text, 'status_reconciler_runs_total', `${l},outcome="skipped"`)).toBe(1);
    expect(sample(text, 'status_reconciler_runs_total', `${l},outcome="failure"`)).toBe(0);
    // Last non-skipped run: 1 of 2.
    expect(sample(text, 'status_reconciler_collision_ratio', l)).toBe(0.5);
    // The gaps of the three duplicates inserted above: the race (2 ms), the genuine repeat
    // (2 h), and the second run's duplicate, which repeats a row from January (months).
    const gaps = await insertedGaps();
    expect(gaps).toHaveLength(3);
    expect(gaps[0]).toBeCloseTo(0.002, 6);
    expect(gaps[1]).toBe(7200);
    expect(gaps[2]).toBeGreaterThan(7200);
    // Every bucket holds exactly the gaps at or below its bound: each gap lands in the first
    // bucket whose bound reaches it, and in every one after (cumulative), +Inf last.
    const buckets = gapBuckets(text, 'object-status');
    expect(buckets.length).toBeGreaterThan(2);
    expect(buckets.at(-1)?.[0]).toBe(Infinity);
    buckets.forEach(([le, count], i) => {
      if (i > 0) expect(le, 'bounds increase').toBeGreaterThan(buckets[i - 1]![0]);
      expect(count, `le=${le}`).toBe(gaps.filter((gap) => gap <= le).length);
    });
    for (const gap of gaps) {
      const first = buckets.findIndex(([le]) => gap <= le);
      const below = first > 0 ? buckets[first - 1]![1] : 0;
      expect(buckets[first]![1] - below, `the bucket of a ${gap} s gap holds it`).toBeGreaterThan(0);
    }
    // The race and the 2 h repeat are in different buckets (the histogram tells them apart).
    expect(buckets.findIndex(([le]) => gaps[0]! <= le)).toBeLessThan(buckets.findIndex(([le]) => 7200 <= le));
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_count', l)).toBe(3);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_sum', l)).toBeCloseTo(
      gaps.reduce((a, b) => a + b, 0),
      3,
    );
    const lastSuccess = sample(text, 'status_reconciler_last_success_timestamp_seconds', l);
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);
    // A configured job that never ran still exposes its counters at zero.
    expect(sample(text, 'status_reconciler_runs_total', 'reconcile_job="never-ran",outcome="success"')).toBe(
      0,
    );
  });

  it('the exposition of these runs passes promtool check metrics', async (context) => {
    const promtool = requireTool('promtool', context);
    // Every kind of series with a sample: duplicates (a race, a repeat, NULL statuses) so the
    // histogram and the ratio have values, a success and a skipped run, and a job that never ran.
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (1, 1, timestamptz '2026-01-01 00:00:00'), (1, 1, timestamptz '2026-01-01 00:00:00.004'),
      (1, 2, timestamptz '2026-01-01 00:00:01'),
      (2, NULL, timestamptz '2026-01-01 00:00:00'), (2, NULL, timestamptz '2026-01-02 00:00:00'),
      (3, 5, timestamptz '2026-01-01 00:00:00')`);
    const job = makeJob({});
    expect(await runOnce(db, job)).toMatchObject({
      rowsExamined: 6,
      duplicatesFound: 2,
      duplicatesRemoved: 2,
    });
    await skippedRun(job);
    const text = await exposition(['object-status', 'never-ran']);
    // The exposition is of these runs, not of an empty registry.
    const l = 'reconcile_job="object-status"';
    expect(sample(text, 'status_reconciler_duplicates_removed_total', l)).toBe(2);
    expect(sample(text, 'status_reconciler_runs_total', `${l},outcome="skipped"`)).toBe(1);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_count', l)).toBe(
      (await insertedGaps()).length,
    );
    expect(sample(text, 'status_reconciler_collision_ratio', l)).toBeCloseTo(2 / 6, 9);
    const { status, output } = promtoolCheckMetrics(text, promtool);
    expect(output).toBe('');
    expect(status).toBe(0);
  });
});
