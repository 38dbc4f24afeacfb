import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeJobFile } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { STANDARD_JOB, createHistoryTable, expectCollapsedShadow } from '../helpers/history.js';
import {
  exposition,
  runJobCli,
  sample,
  sleepUntil,
  statusesOf,
  type Summary,
} from '../helpers/timeHistory.js';

/*
 * A checkpoint is a promise about one job definition, and incremental passes cannot see
 * duplicates born behind it. Through the built CLI: a changed definition (or a checkpoint from
 * before definitions were stored) gives a full pass, and `fullEvery` schedules full passes that
 * find what incremental passes missed, and count it.
 */

let db: TestDatabase;
let files: (() => void)[] = [];

beforeAll(async () => {
  db = await createTestDatabase('checkpointdef');
});
beforeEach(async () => {
  await db.query(`DROP SCHEMA IF EXISTS status_reconciler CASCADE;
    DROP TABLE IF EXISTS object_status, object_status_shadow, other_status, other_status_shadow CASCADE;
    DROP FUNCTION IF EXISTS object_status_copy, other_status_copy;`);
  await createHistoryTable(db);
});
afterEach(() => {
  for (const cleanup of files) cleanup();
  files = [];
});
afterAll(async () => {
  await db.drop();
});

/** Runs `run` once with one job (STANDARD_JOB with `fields`); returns its summary. */
async function run(fields: Record<string, unknown> = {}): Promise<Summary> {
  const file = writeJobFile([{ ...STANDARD_JOB, ...fields }]);
  files.push(file.cleanup);
  return runJobCli(db, file.path, (fields.name as string | undefined) ?? STANDARD_JOB.name);
}

/** Adds a column to the history table and its shadow (the trigger copies whole rows). */
async function addColumn(definition: string): Promise<void> {
  for (const table of ['object_status', 'object_status_shadow']) {
    await db.query(`ALTER TABLE ${table} ADD COLUMN ${definition}`);
  }
}

describe('a checkpoint belongs to one job definition', () => {
  it('compare narrowed from two columns to one: the next run is full and removes the new duplicates', async () => {
    await addColumn('note text');
    await db.query(`INSERT INTO object_status (object_id, status_id, note, start_date) VALUES
      (1, 1, 'x', now() - interval '2 hours'), (1, 1, 'y', now() - interval '1 hour')`);
    const wide = { compare: ['status_id', 'note'] };
    expect(await run(wide)).toMatchObject({ scope: 'full', duplicatesRemoved: 0 });
    // Unchanged, the checkpoint is trusted.
    expect(await run(wide)).toMatchObject({ scope: 'incremental', duplicatesRemoved: 0 });

    const narrow = await run({ compare: ['status_id'] });
    expect(narrow).toMatchObject({ scope: 'full', duplicatesRemoved: 1 });
    await expectCollapsedShadow(db); // the oracle compares status_id alone
  });

  it("a compare column's type changed (numeric to integer): the next run is full and removes the new duplicates", async () => {
    await addColumn('level numeric');
    await db.query(`INSERT INTO object_status (object_id, status_id, level, start_date) VALUES
      (1, 1, 1.1, now() - interval '2 hours'), (1, 1, 1.2, now() - interval '1 hour')`);
    const byLevel = { compare: ['level'] };
    expect(await run(byLevel)).toMatchObject({ scope: 'full', duplicatesRemoved: 0 });
    expect(await run(byLevel)).toMatchObject({ scope: 'incremental', duplicatesRemoved: 0 });
    // 1.1 and 1.2 both become 1: equal now, which only a full pass can see.
    await db.query(`ALTER TABLE object_status ALTER COLUMN level TYPE integer USING round(level)`);
    expect(await run(byLevel)).toMatchObject({ scope: 'full', duplicatesRemoved: 1 });
  });

  it('key narrowed: the next run is full and removes the new duplicates', async () => {
    await addColumn('variant int NOT NULL DEFAULT 0');
    await db.query(`INSERT INTO object_status (object_id, variant, status_id, start_date) VALUES
      (1, 1, 1, now() - interval '2 hours'), (1, 2, 1, now() - interval '1 hour')`);
    expect(await run({ key: ['object_id', 'variant'] })).toMatchObject({
      scope: 'full',
      duplicatesRemoved: 0,
    });
    expect(await run({ key: ['object_id'] })).toMatchObject({ scope: 'full', duplicatesRemoved: 1 });
    await expectCollapsedShadow(db); // the oracle keys on object_id alone
  });

  it('orderBy changed: the next run is full and judges the new order', async () => {
    await addColumn('seq int');
    // By (start_date, id): 1, 2, 1. By (start_date, seq): 1, 1, 2.
    await db.query(`INSERT INTO object_status (id, object_id, status_id, seq, start_date) VALUES
      (1, 1, 1, 1, now() - interval '1 hour'), (2, 1, 2, 3, now() - interval '1 hour'),
      (3, 1, 1, 2, now() - interval '1 hour')`);
    expect(await run()).toMatchObject({ scope: 'full', duplicatesRemoved: 0 });
    expect(await run({ orderBy: ['start_date', 'seq'] })).toMatchObject({
      scope: 'full',
      duplicatesRemoved: 1,
    });
    const ids = await db.query<{ id: string }>('SELECT id::text AS id FROM object_status ORDER BY id');
    expect(ids.map((r) => r.id)).toEqual(['1', '2']);
  });

  it('table changed: the next run is full over the new table', async () => {
    await createHistoryTable(db, 'public.other_status');
    await db.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 1)`);
    await db.query(`INSERT INTO other_status (object_id, status_id, start_date) VALUES
      (1, 1, now() - interval '2 hours'), (1, 1, now() - interval '1 hour')`);
    expect(await run()).toMatchObject({ scope: 'full' });
    expect(await run({ table: 'public.other_status' })).toMatchObject({
      scope: 'full',
      duplicatesRemoved: 1,
    });
    await expectCollapsedShadow(db, 'other_status');
  });

  it('timeZone changed: the next run is full', async () => {
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, now() - interval '1 hour')`,
    );
    expect(await run({ timeZone: 'UTC' })).toMatchObject({ scope: 'full' });
    expect(await run({ timeZone: 'UTC' })).toMatchObject({ scope: 'incremental' });
    expect(await run({ timeZone: 'Asia/Tokyo' })).toMatchObject({ scope: 'full' });
  });

  it('a checkpoint written before definitions were stored is not trusted: full pass', async () => {
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, now() - interval '1 hour')`,
    );
    expect(await run()).toMatchObject({ scope: 'full' });
    expect(await run()).toMatchObject({ scope: 'incremental' });
    await db.query(`UPDATE status_reconciler.checkpoint SET definition = NULL`);
    expect(await run()).toMatchObject({ scope: 'full' });
    expect(await run()).toMatchObject({ scope: 'incremental' });
  });
});

describe('fullEvery: duplicates born behind the checkpoint', () => {
  it('a run fullEvery after the last full pass is full, removes what incremental passes missed, and counts it', async () => {
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (1, 1, now() - interval '3 hours'), (1, 2, now() - interval '2 hours'), (1, 1, now() - interval '1 hour')`);
    // fullEvery is not part of the job definition: changing it keeps the checkpoint. The runs
    // that must stay incremental use "1h", so a slow machine cannot make them due.
    const job = { fullEvery: '3s' };
    const notDue = { fullEvery: '1h' };
    const first = await run(job);
    expect(first).toMatchObject({ scope: 'full', duplicatesRemoved: 0 });
    const [firstPass] = await db.query<{ finished: Date }>(
      `SELECT finished_at AS finished FROM status_reconciler.run_history ORDER BY id DESC LIMIT 1`,
    );
    const due = new Date((firstPass?.finished ?? new Date()).getTime() + 3000);

    // The application deletes the middle row: A, A, behind the checkpoint.
    await db.query(`DELETE FROM object_status WHERE status_id = 2`);
    const soon = await run(notDue);
    expect(soon).toMatchObject({ scope: 'incremental', duplicatesRemoved: 0 });
    expect(await statusesOf(db, 'object_status')).toEqual([1, 1]);

    await sleepUntil(db, new Date(due.getTime() + 200));
    const full = await run(job);
    expect(full).toMatchObject({ scope: 'full', duplicatesRemoved: 1, missedByIncremental: 1 });
    expect(await statusesOf(db, 'object_status')).toEqual([1]);
    const metrics = await exposition(db, ['object-status']);
    expect(
      sample(
        metrics,
        'status_reconciler_duplicates_missed_by_incremental_total',
        'reconcile_job="object-status"',
      ),
    ).toBe(1);

    // Within fullEvery of that full pass: incremental again.
    expect(await run(notDue)).toMatchObject({ scope: 'incremental', duplicatesRemoved: 0 });
  });

  it('a duplicate that a full pass finds at or after the stored checkpoint is not counted as missed', async () => {
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, now() - interval '1 hour')`,
    );
    expect(await run()).toMatchObject({ scope: 'full' });
    await db.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 1)`); // after the checkpoint
    const file = writeJobFile([STANDARD_JOB]);
    files.push(file.cleanup);
    const full = await runJobCli(db, file.path, STANDARD_JOB.name, ['--full']);
    expect(full).toMatchObject({ scope: 'full', duplicatesRemoved: 1, missedByIncremental: 0 });
    const metrics = await exposition(db, ['object-status']);
    expect(
      sample(
        metrics,
        'status_reconciler_duplicates_missed_by_incremental_total',
        'reconcile_job="object-status"',
      ),
    ).toBe(0);
  });
});
