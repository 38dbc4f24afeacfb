/*
 * Rows an application holds locked, through the real CLI. A duplicate locked by another
 * session, or whose predecessor is, longer than lockTimeoutMs, is skipped without stopping
 * the pass: every other duplicate is removed, the run exits 0 and reports the locked ones
 * (count, table, key), and the checkpoint stays at or below them, so the next plain
 * (incremental) run removes them once the lock is gone. A locked duplicate is passed over
 * without waiting (SKIP LOCKED); a locked predecessor is waited for (up to lockTimeoutMs),
 * never passed over for an older row, and the batch halved until its duplicate is isolated
 * (the oracle: nothing but consecutive duplicates is ever removed).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { resetHistoryTable, expectCollapsedShadow, STANDARD_JOB } from '../helpers/history.js';
import {
  expectBlockedRecorded,
  expectCollapsedKeeping,
  expectExit,
  nthRowId,
  seedStretches,
  summaryOf,
  warningsWith,
} from '../helpers/blockedRows.js';
import { jobFiles } from '../helpers/jobFiles.js';

const ARCHIVE = 'public.object_status_archive';
let db: TestDatabase;
const files = jobFiles();
const env = (): Record<string, string> => ({ DATABASE_URL: db.url });
const JOB = { ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE, batchSize: 50, lockTimeoutMs: 500 };

beforeAll(async () => {
  db = await createTestDatabase('e2e_locked');
});
afterAll(async () => {
  files.cleanup();
  await db?.drop();
});
beforeEach(async () => {
  await resetHistoryTable(db);
  await seedStretches(db, 20, 20); // 320 duplicates
});

/** Another session holding rows locked (as an application would) in a transaction left open. */
async function holdLocks(
  ids: readonly string[],
  how: 'FOR UPDATE' | 'UPDATE',
): Promise<{ release(): Promise<void> }> {
  const client: pg.Client = await db.connect();
  await client.query('BEGIN');
  await client.query(
    how === 'UPDATE'
      ? `UPDATE object_status SET status_id = status_id WHERE id = ANY ($1::bigint[])`
      : `SELECT id FROM object_status WHERE id = ANY ($1::bigint[]) FOR UPDATE`,
    [ids],
  );
  return {
    async release() {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** A run while `ids` are held locked, timed; then the lock goes. */
async function runWhileLocked(
  ids: readonly string[],
  how: 'FOR UPDATE' | 'UPDATE',
  path: string,
): Promise<{ run: CliResult; seconds: number }> {
  const lock = await holdLocks(ids, how);
  try {
    const started = performance.now();
    const run = await runCli(['run', '--jobs', path], env());
    const seconds = (performance.now() - started) / 1000;
    expectExit(run, 0);
    return { run, seconds };
  } finally {
    await lock.release();
  }
}

/** The stored checkpoint is not past the earliest of these rows: the next run sees them again. */
async function checkpointHeldAt(ids: readonly string[]): Promise<boolean> {
  const [row] = await db.query<{ held: boolean }>(
    `SELECT c.horizon::timestamptz <= min(s.start_date) AS held
       FROM status_reconciler.checkpoint c, object_status s
      WHERE c.job = 'object-status' AND s.id = ANY ($1::bigint[]) GROUP BY c.horizon`,
    [ids],
  );
  return row?.held ?? false;
}

/** After the lock: a plain run is incremental, removes what was skipped, and the oracle holds. */
async function expectRetried(path: string, skipped: number): Promise<void> {
  const next = await runCli(['run', '--jobs', path], env());
  expectExit(next, 0);
  expect(summaryOf(next)).toMatchObject({
    scope: 'incremental',
    duplicatesRemoved: skipped,
    lockedSkipped: 0,
  });
  await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
}

describe('rows locked by another session', () => {
  it('a locked duplicate: skipped and named, every other one removed, exit 0; the next run removes it', async () => {
    // The last duplicate of its stretch: the row after it differs (a row whose predecessor is
    // locked is skipped too, see below).
    const locked = await nthRowId(db, 5, 5);
    const path = files.write(JOB);
    const { run, seconds } = await runWhileLocked([locked], 'FOR UPDATE', path);
    expect(summaryOf(run)).toMatchObject({
      outcome: 'success',
      duplicatesFound: 320,
      duplicatesRemoved: 319,
      lockedSkipped: 1,
      referencedKept: 0,
    });
    expect(seconds).toBeLessThan(10);
    await expectCollapsedKeeping(db, [locked], { archive: ARCHIVE });
    const [warning] = warningsWith(run, 'lockedSkipped');
    expect(warning).toMatchObject({
      table: 'public.object_status',
      lockedSkipped: 1,
      rows: [{ object_id: '5', id: locked }],
    });
    expect(await checkpointHeldAt([locked])).toBe(true);
    await expectBlockedRecorded(db, { referencedKept: 0, lockedSkipped: 1 });
    await expectRetried(path, 1);
    await expectBlockedRecorded(db, { referencedKept: 0, lockedSkipped: 0 });
  });

  it('a locked predecessor: its duplicate is skipped, never judged against an older row; retried next run', async () => {
    const predecessor = await nthRowId(db, 5, 6); // the first row of the second stretch: kept
    const blocked = await nthRowId(db, 5, 7); // the duplicate right after it
    const path = files.write(JOB);
    const { run, seconds } = await runWhileLocked([predecessor], 'UPDATE', path);
    expect(summaryOf(run)).toMatchObject({ outcome: 'success', duplicatesRemoved: 319, lockedSkipped: 1 });
    expect(seconds).toBeLessThan(10);
    await expectCollapsedKeeping(db, [blocked], { archive: ARCHIVE });
    expect(warningsWith(run, 'lockedSkipped')[0]).toMatchObject({ rows: [{ object_id: '5', id: blocked }] });
    expect(await checkpointHeldAt([blocked])).toBe(true);
    await expectRetried(path, 1);
  });

  it('many locked rows in small batches: each costs a few lock timeouts at most, the pass goes on to the end', async () => {
    // Duplicates of objects 1-10 and the kept rows before the last stretch of objects 11-20.
    const ids: string[] = [];
    for (let object = 1; object <= 10; object++) ids.push(await nthRowId(db, object, 5));
    for (let object = 11; object <= 20; object++) ids.push(await nthRowId(db, object, 16));
    const blocked = await Promise.all(Array.from({ length: 10 }, (_, i) => nthRowId(db, 11 + i, 17)));
    const path = files.write({ ...JOB, batchSize: 7, lockTimeoutMs: 200 });
    const { run, seconds } = await runWhileLocked(ids, 'FOR UPDATE', path);
    expect(summaryOf(run)).toMatchObject({ duplicatesRemoved: 300, lockedSkipped: 20 });
    // A locked duplicate costs no wait; a locked predecessor one wait per halving of its batch.
    expect(seconds).toBeLessThan(30);
    await expectCollapsedKeeping(db, [...ids.slice(0, 10), ...blocked], { archive: ARCHIVE });
    expect(await checkpointHeldAt([...ids.slice(0, 10), ...blocked])).toBe(true);
    await expectRetried(path, 20);
  });

  it('a lock released while the pass runs: the duplicate passed over is removed by the same run', async () => {
    const locked = await nthRowId(db, 1, 2); // passed over; the row after it waits for it
    const lock = await holdLocks([locked], 'FOR UPDATE');
    const running = startCli(['run', '--jobs', files.write({ ...JOB, lockTimeoutMs: 30000 })], env());
    try {
      const deadline = Date.now() + 20000;
      const waiting = async (): Promise<boolean> =>
        (
          await db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
              AND application_name LIKE 'status-reconciler%' AND wait_event_type = 'Lock'`)
        ).length > 0;
      while (!(await waiting())) {
        if (Date.now() > deadline) throw new Error('the batch never waited for the lock');
        await sleep(20);
      }
    } finally {
      await lock.release();
    }
    const run = await running.done;
    expectExit(run, 0);
    expect(summaryOf(run)).toMatchObject({ duplicatesRemoved: 320, lockedSkipped: 0 });
    expect(warningsWith(run, 'lockedSkipped')).toEqual([]);
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });

  it('a wait only the removal meets: the batch is halved until the one blocked row is isolated and skipped', async () => {
    // An archive whose primary key another session is inserting the same id into, uncommitted:
    // archiving that duplicate waits for it, which no lock taken before the removal sees.
    await db.query(`CREATE TABLE object_status_archive (
      LIKE object_status, archived_at timestamptz NOT NULL DEFAULT now(), repeated_id bigint, PRIMARY KEY (id))`);
    const blocked = await nthRowId(db, 7, 4);
    const client = await db.connect();
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO object_status_archive (id, object_id, status_id, start_date) VALUES ($1, 7, 0, now())`,
      [blocked],
    );
    const path = files.write(JOB);
    let run: CliResult;
    try {
      run = await runCli(['run', '--jobs', path], env());
    } finally {
      await client.query('ROLLBACK');
      await client.end();
    }
    expectExit(run, 0);
    const summary = summaryOf(run);
    expect(summary).toMatchObject({ outcome: 'success', duplicatesRemoved: 319, lockedSkipped: 1 });
    expect(summary.batches).toBeGreaterThan(Math.ceil(320 / 50)); // the halves committed on their own
    expect(warningsWith(run, 'lockedSkipped')[0]).toMatchObject({ rows: [{ object_id: '7', id: blocked }] });
    await expectCollapsedKeeping(db, [blocked], { archive: ARCHIVE });
    expect(await checkpointHeldAt([blocked])).toBe(true);
    await expectRetried(path, 1);
  });

  it('a table-level lock: the run fails at once, naming the table, and removes nothing', async () => {
    const client = await db.connect();
    await client.query('BEGIN; LOCK TABLE object_status IN SHARE MODE');
    try {
      const run = await runCli(['run', '--jobs', files.write(JOB)], env());
      expectExit(run, 1);
      expect(run.stderr).toContain(
        'could not lock public.object_status and public.object_status_archive within lockTimeoutMs (500 ms)',
      );
    } finally {
      await client.query('ROLLBACK');
      await client.end();
    }
    expect(await db.query('SELECT 1 FROM object_status')).toHaveLength(400);
  });
});
