import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, makeJob, runOnce } from '../helpers/history.js';

/*
 * Every run is recorded once, with what the summary says: outcome, scope, counts and, for a
 * run that did nothing, why. run_history is what `status` and the metrics read.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('runrecord');
  await createHistoryTable(db);
});
afterAll(async () => {
  await db.drop();
});

interface RecordedRun {
  outcome: string;
  scope: string;
  rows_examined: string;
  duplicates_removed: string;
  horizon: string | null;
  error: string | null;
}

async function recordedRuns(): Promise<RecordedRun[]> {
  return db.query<RecordedRun>(
    `SELECT outcome, scope, rows_examined::text, duplicates_removed::text, horizon::text, error
       FROM status_reconciler.run_history ORDER BY id`,
  );
}

describe('the run record', () => {
  it('says why a run did nothing when the horizon has not moved past the checkpoint', async () => {
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (1, 1, now() - interval '1 hour'), (1, 1, now() - interval '59 minutes')`);
    // An open transaction holds the horizon at its start, for both runs below.
    const holder = await db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT txid_current()');
      const job = makeJob({});
      const first = await runOnce(db, job);
      expect(first).toMatchObject({ outcome: 'success', scope: 'full', duplicatesRemoved: 1 });
      const second = await runOnce(db, job);
      expect(second).toMatchObject({
        outcome: 'success',
        scope: 'incremental',
        rowsExamined: 0,
        reason: 'the horizon has not moved past the checkpoint',
      });
      const runs = await recordedRuns();
      expect(runs).toHaveLength(2);
      expect(runs[0]).toMatchObject({
        outcome: 'success',
        scope: 'full',
        duplicates_removed: '1',
        error: null,
      });
      expect(runs[1]).toMatchObject({
        outcome: 'success',
        scope: 'incremental',
        rows_examined: '0',
        error: 'the horizon has not moved past the checkpoint',
      });
      expect(runs[1]?.horizon).not.toBeNull();
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('records a completed pass once, with its checkpoint and its last counts in the same commit', async () => {
    await db.query(`DELETE FROM status_reconciler.run_history; DELETE FROM status_reconciler.totals;`);
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (2, 1, now() - interval '10 minutes'), (2, 2, now() - interval '9 minutes')`);
    const result = await runOnce(db, makeJob({}), { full: true });
    const runs = await recordedRuns();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      outcome: 'success',
      scope: 'full',
      rows_examined: String(result.rowsExamined),
    });
    // The rows examined after the last batch are in the totals too, not only in the run.
    const [totals] = await db.query<{ rows_examined: string; runs_success: string }>(
      `SELECT rows_examined::text, runs_success::text FROM status_reconciler.totals WHERE job = 'object-status'`,
    );
    expect(totals).toEqual({ rows_examined: String(result.rowsExamined), runs_success: '1' });
    const [checkpoint] = await db.query<{ horizon: string }>(
      `SELECT horizon FROM status_reconciler.checkpoint WHERE job = 'object-status'`,
    );
    expect(checkpoint?.horizon).toBe(result.horizon);
  });
});
