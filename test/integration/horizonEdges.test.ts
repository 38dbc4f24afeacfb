import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runJobs } from '../../src/reconcile/runJobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  createHistoryTable,
  makeJob,
  runOnce,
  silentLogger,
  expectCollapsedShadow,
} from '../helpers/history.js';
import { unmet } from '../helpers/tools.js';

/*
 * The edges of the horizon named in the design brief, each as a late-commit scenario that
 * loses a real transition when the edge is handled wrongly.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('edges');
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await db.query(`DROP SCHEMA IF EXISTS status_reconciler CASCADE;
    DROP TABLE IF EXISTS object_status, object_status_shadow CASCADE;
    DROP FUNCTION IF EXISTS object_status_copy;`);
});

async function statuses(): Promise<number[]> {
  const rows = await db.query<{ status_id: number }>(
    'SELECT status_id FROM object_status WHERE object_id = 1 ORDER BY start_date, id',
  );
  return rows.map((r) => r.status_id);
}

describe('horizon edges', () => {
  it('timestamptz(0): an open transaction stamped in the same second keeps the horizon below its row', async () => {
    await createHistoryTable(db);
    await db.query('ALTER TABLE object_status ALTER COLUMN start_date TYPE timestamptz(0)');
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, now() - interval '1 hour')`,
    );
    const late = await db.connect();
    try {
      // Start the late transaction early in a second, so its now() rounds DOWN when stored.
      for (;;) {
        await late.query('BEGIN');
        const [{ frac }] = (
          await late.query<{ frac: number }>(`SELECT extract(microseconds FROM now())::int % 1000000 AS frac`)
        ).rows as [{ frac: number }];
        if (frac > 50_000 && frac < 300_000) break;
        await late.query('ROLLBACK');
        await sleep(Math.max(1, (1_050_000 - frac) / 1000));
      }
      await late.query('INSERT INTO object_status (object_id, status_id) VALUES (1, 2)'); // B, not committed
      await db.query('INSERT INTO object_status (object_id, status_id) VALUES (1, 1)'); // R: same second, later id
      const result = await runOnce(db, makeJob({}));
      expect(result.duplicatesRemoved).toBe(0); // R is not below the rounded horizon
      await late.query('COMMIT');
    } finally {
      await late.end();
    }
    await runOnce(db, makeJob({}));
    expect(await statuses()).toEqual([1, 2, 1]);
    await expectCollapsedShadow(db);
  });

  it('re-verification waits for a predecessor someone else is deleting, and judges what they leave', async () => {
    await createHistoryTable(db);
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (1, 1, now() - interval '4 min'), (1, 2, now() - interval '3 min'),
      (1, 1, now() - interval '2 min'), (1, 1, now() - interval '1 min')`);
    const other = await db.connect();
    try {
      await other.query('BEGIN');
      await other.query('DELETE FROM object_status WHERE id = 3'); // the predecessor of row 4
      const run = runJobs(db.config, [makeJob({ lockTimeoutMs: 20000 })], {
        dryRun: false,
        full: false,
        logger: silentLogger,
      });
      for (let i = 0; ; i++) {
        const waiting = await db.query(`SELECT 1 FROM pg_stat_activity
          WHERE application_name = 'status-reconciler' AND wait_event_type = 'Lock' AND datname = current_database()`);
        if (waiting.length > 0) break;
        if (i > 500) throw new Error('the batch never waited for the row lock');
        await sleep(10);
      }
      await other.query('COMMIT');
      const [result] = await run;
      expect(result?.outcome).toBe('success');
    } finally {
      await other.end();
    }
    // Row 4 now follows row 2 (status 2): it is a real transition back to 1 and stays.
    expect(await statuses()).toEqual([1, 2, 1]);
  });

  it('a prepared transaction holds the horizon at the last checkpoint', async (context) => {
    const [{ max }] = (await db.query<{ max: string }>(
      `SELECT current_setting('max_prepared_transactions') AS max`,
    )) as [{ max: string }];
    if (Number(max) === 0) {
      unmet(
        'max_prepared_transactions is 0 on this server, so no transaction can be prepared',
        'to fix: ALTER SYSTEM SET max_prepared_transactions = 20, then restart the server ' +
          "(.ci/run does this for the machine's PostgreSQL; the embedded server sets 10)",
        context,
      );
    }
    await createHistoryTable(db);
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, now() - interval '1 hour')`,
    );
    await runOnce(db, makeJob({})); // checkpoint
    const xa = await db.connect();
    try {
      await xa.query('BEGIN');
      await xa.query('INSERT INTO object_status (object_id, status_id) VALUES (1, 2)'); // B, stamped now
      await xa.query(`PREPARE TRANSACTION 'sr_edge_test'`); // leaves pg_stat_activity
      await sleep(5);
      await db.query('INSERT INTO object_status (object_id, status_id) VALUES (1, 1)'); // R, after B's start
      const held = await runOnce(db, makeJob({}));
      expect(held.duplicatesFound).toBe(0);
      await db.query(`COMMIT PREPARED 'sr_edge_test'`);
    } finally {
      await db.query(`ROLLBACK PREPARED 'sr_edge_test'`).catch(() => undefined);
      await xa.end();
    }
    await runOnce(db, makeJob({}));
    expect(await statuses()).toEqual([1, 2, 1]);
    await expectCollapsedShadow(db);
  });

  it('a checkpoint taken in another TimeZone is not used for a timestamp column', async () => {
    await db.query(`CREATE TABLE object_status (id serial PRIMARY KEY, object_id int, status_id int, start_date timestamp NOT NULL);
      CREATE TABLE object_status_shadow ();`);
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, '2026-01-01'), (1, 1, '2026-01-02')`,
    );
    const utc = await runOnce(db, makeJob({ timeZone: 'UTC' }));
    expect(utc).toMatchObject({ scope: 'full', duplicatesRemoved: 1 });
    expect((await runOnce(db, makeJob({ timeZone: 'UTC' }))).scope).toBe('incremental');
    expect((await runOnce(db, makeJob({ timeZone: 'Asia/Tokyo' }))).scope).toBe('full');
  });
});
