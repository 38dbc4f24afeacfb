import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { buildRegistry } from '../../src/metrics/registry.js';
import { readJobMetrics } from '../../src/metrics/snapshot.js';
import { GAP_BUCKETS } from '../../src/sql/gapBuckets.js';
import { runJobs } from '../../src/reconcile/runJobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, makeJob, runOnce, silentLogger } from '../helpers/history.js';
import { promtoolCheckMetrics, skipReason } from '../helpers/prometheus.js';

/* Metric values after scripted runs, read back from the real database. */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('metricvalues');
  await createHistoryTable(db);
});
afterAll(async () => {
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
    const holder = await db.connect();
    await holder.query(`SELECT pg_advisory_lock(hashtext('status-reconciler'), hashtext('object-status'))`);
    const [skipped] = await runJobs(db.config, [job], { dryRun: false, full: false, logger: silentLogger });
    await holder.end();
    expect(skipped?.outcome).toBe('skipped');

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
    // The race (2 ms) is in le=0.005 and above; the 2 h repeat only from le=21600; the
    // second run's duplicate repeats a row from January: only +Inf holds it.
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_bucket', `${l},le="0.001"`)).toBe(0);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_bucket', `${l},le="0.005"`)).toBe(1);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_bucket', `${l},le="3600"`)).toBe(1);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_bucket', `${l},le="21600"`)).toBe(2);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_bucket', `${l},le="604800"`)).toBe(2);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_bucket', `${l},le="+Inf"`)).toBe(3);
    expect(sample(text, 'status_reconciler_duplicate_gap_seconds_count', l)).toBe(3);
    expect(GAP_BUCKETS).toContain(21600);
    const lastSuccess = sample(text, 'status_reconciler_last_success_timestamp_seconds', l);
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);
    // A configured job that never ran still exposes its counters at zero.
    expect(sample(text, 'status_reconciler_runs_total', 'reconcile_job="never-ran",outcome="success"')).toBe(
      0,
    );
  });

  it.skipIf(skipReason(['promtool']) !== undefined)(
    'the exposition passes promtool check metrics',
    async () => {
      const { status, output } = promtoolCheckMetrics(await exposition(['object-status']));
      expect(output).toBe('');
      expect(status).toBe(0);
    },
  );
});
