import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { resetHistoryTable, expectCollapsedShadow, holdLease, makeJob, runOnce } from '../helpers/history.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('reconcile');
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await resetHistoryTable(db);
});

/** Inserts (object, status, seconds after a fixed origin) rows in the given order. */
async function insert(rows: [number, number | null, number][]): Promise<void> {
  for (const [object, status, seconds] of rows) {
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date)
       VALUES ($1, $2, timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => $3))`,
      [object, status, seconds],
    );
  }
}

async function statuses(object: number, table = 'object_status'): Promise<(number | null)[]> {
  const rows = await db.query<{ status_id: number | null }>(
    `SELECT status_id FROM ${table} WHERE object_id = $1 ORDER BY start_date, id`,
    [object],
  );
  return rows.map((r) => r.status_id);
}

describe('reconcile', () => {
  it('collapses A,A,B,A to A,B,A and keeps the earliest row of each stretch', async () => {
    await insert([
      [1, 1, 0],
      [1, 1, 1],
      [1, 2, 2],
      [1, 1, 3],
      [1, 1, 4],
      [2, 5, 0],
    ]);
    const result = await runOnce(db, makeJob({}));
    expect(await statuses(1)).toEqual([1, 2, 1]);
    expect(await statuses(2)).toEqual([5]);
    expect(result).toMatchObject({
      rowsExamined: 6,
      duplicatesFound: 2,
      duplicatesRemoved: 2,
      outcome: 'success',
    });
    const ids = await db.query<{ id: string }>(
      'SELECT id::text AS id FROM object_status WHERE object_id = 1 ORDER BY id',
    );
    expect(ids.map((r) => r.id)).toEqual(['1', '3', '4']);
    await expectCollapsedShadow(db);
  });

  it('batchPauseMs pauses after each committed batch; the longest write transaction is reported', async () => {
    // 5 objects of A, A, A: 10 duplicates, batches of 2, so 5 batches and 5 pauses of 150 ms.
    await insert([1, 2, 3, 4, 5].flatMap((o): [number, number, number][] => [0, 1, 2].map((i) => [o, 7, i])));
    const paused = await runOnce(db, makeJob({ batchSize: 2, batchPauseMs: 150 }), { full: true });
    expect(paused).toMatchObject({ duplicatesRemoved: 10, batches: 5 });
    expect(paused.durationSeconds).toBeGreaterThanOrEqual(5 * 0.15);
    expect(paused.longestBatchSeconds).toBeGreaterThan(0);
    // A write transaction is part of the run, outside its pauses.
    expect(paused.longestBatchSeconds).toBeLessThanOrEqual(paused.durationSeconds - 5 * 0.15);
    await expectCollapsedShadow(db);
  });

  it('treats NULL as equal to NULL and as different from any status', async () => {
    await insert([
      [1, null, 0],
      [1, null, 1],
      [1, 1, 2],
      [1, null, 3],
    ]);
    await runOnce(db, makeJob({}));
    expect(await statuses(1)).toEqual([null, 1, null]);
  });

  it('breaks timestamp ties with the last orderBy column', async () => {
    // Same start_date for all: the id decides the order, so A(1) A(2) B(3) A(4) -> A B A.
    await insert([
      [1, 1, 5],
      [1, 1, 5],
      [1, 2, 5],
      [1, 1, 5],
    ]);
    await runOnce(db, makeJob({}));
    const rows = await db.query<{ id: string }>('SELECT id::text AS id FROM object_status ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(['1', '3', '4']);
  });

  it('orders by start_date, not by insertion order', async () => {
    // Inserted out of order: by time the history is A(0) A(1) B(2), so the row at t=1 goes.
    await insert([
      [1, 2, 2],
      [1, 1, 1],
      [1, 1, 0],
    ]);
    await runOnce(db, makeJob({}));
    const rows = await db.query<{ id: string }>('SELECT id::text AS id FROM object_status ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(['1', '3']);
  });

  it('dry run reports what it would remove and changes nothing', async () => {
    await insert([
      [1, 1, 0],
      [1, 1, 1],
    ]);
    const result = await runOnce(
      db,
      makeJob({ mode: 'archive', archiveTable: 'public.object_status_archive' }),
      {
        dryRun: true,
      },
    );
    expect(result).toMatchObject({ duplicatesFound: 1, duplicatesRemoved: 0 });
    expect(await statuses(1)).toEqual([1, 1]);
    const created = await db.query(
      `SELECT relname FROM pg_class WHERE relname = 'object_status_archive'
       UNION ALL SELECT nspname FROM pg_namespace WHERE nspname = 'status_reconciler'`,
    );
    expect(created).toEqual([]);
  });

  it('archive mode moves each duplicate with when and the id of the row it repeated', async () => {
    await insert([
      [1, 1, 0],
      [1, 1, 1],
      [1, 1, 2],
      [1, 2, 3],
    ]);
    const result = await runOnce(
      db,
      makeJob({ mode: 'archive', archiveTable: 'public.object_status_archive' }),
    );
    expect(result.duplicatesRemoved).toBe(2);
    const archived = await db.query<{ id: string; repeated_id: string; fresh: boolean }>(
      `SELECT id::text AS id, repeated_id::text AS repeated_id, archived_at > now() - interval '1 minute' AS fresh
         FROM object_status_archive ORDER BY id`,
    );
    // Each row records the nearest earlier row still present when it was removed: within
    // one statement that may be the stretch's kept row, or a row removed just after it.
    expect(archived.map((r) => [r.id, r.fresh])).toEqual([
      ['2', true],
      ['3', true],
    ]);
    expect(archived[0]?.repeated_id).toBe('1');
    expect(['1', '2']).toContain(archived[1]?.repeated_id);
    // Whatever it names has the same object and status and comes earlier.
    const mismatched = await db.query(`
      SELECT a.id FROM object_status_archive a
        LEFT JOIN (SELECT id, object_id, status_id, start_date FROM object_status
                   UNION ALL SELECT id, object_id, status_id, start_date FROM object_status_archive) r
          ON r.id = a.repeated_id
       WHERE r.id IS NULL OR r.object_id <> a.object_id
          OR r.status_id IS DISTINCT FROM a.status_id OR (r.start_date, r.id) >= (a.start_date, a.id)`);
    expect(mismatched).toEqual([]);
    const union = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (SELECT id FROM object_status UNION ALL SELECT id FROM object_status_archive) u`,
    );
    expect(union[0]?.n).toBe('4');
  });

  it('does not judge rows at or after the horizon (settleSeconds)', async () => {
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date)
                    VALUES (1, 1, now() - interval '1 hour'), (1, 1, now() - interval '1 second')`);
    const result = await runOnce(db, makeJob({ settleSeconds: 60 }));
    expect(result.duplicatesFound).toBe(0);
    expect(await statuses(1)).toEqual([1, 1]);
  });

  it('holds the horizon at the start of another open transaction (late commit)', async () => {
    // P(A) committed early; a writer starts a transaction, later R(A) commits, then the
    // writer inserts B with its own (earlier) now() and commits after the reconciler ran.
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, now() - interval '1 hour')`,
    );
    const late = await db.connect();
    try {
      await late.query('BEGIN');
      await late.query('SELECT 1'); // xact_start is fixed at BEGIN; now() of this transaction
      await new Promise((r) => setTimeout(r, 20));
      await db.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 1)`); // R, after the late start
      const result = await runOnce(db, makeJob({}));
      expect(result.duplicatesFound).toBe(0); // R is after the late transaction's start: not judged
      await late.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 2)`); // B, stamped before R
      await late.query('COMMIT');
    } finally {
      await late.end();
    }
    await runOnce(db, makeJob({}));
    // History by time: A, B, A: nothing is a duplicate, nothing was lost.
    expect(await statuses(1)).toEqual([1, 2, 1]);
    await expectCollapsedShadow(db);
  });

  it('is incremental: a second run examines only objects with new rows', async () => {
    await insert([
      [1, 1, 0],
      [1, 1, 1],
      [2, 1, 0],
      [2, 2, 1],
    ]);
    const first = await runOnce(db, makeJob({}));
    expect(first).toMatchObject({ scope: 'full', rowsExamined: 4, duplicatesRemoved: 1 });
    // New rows for object 2 only, after the checkpoint; its anchor (last row before) is B.
    await db.query(`INSERT INTO object_status (object_id, status_id) VALUES (2, 2), (2, 3)`);
    const second = await runOnce(db, makeJob({}));
    expect(second).toMatchObject({
      scope: 'incremental',
      rowsExamined: 2,
      duplicatesFound: 1,
      duplicatesRemoved: 1,
    });
    expect(await statuses(2)).toEqual([1, 2, 3]);
    const full = await runOnce(db, makeJob({}), { full: true });
    expect(full).toMatchObject({ scope: 'full', rowsExamined: 4, duplicatesFound: 0 });
    await expectCollapsedShadow(db);
  });

  it('skips a job whose lock another runner holds', async () => {
    const holder = await holdLease(db, 'object-status');
    try {
      await insert([
        [1, 1, 0],
        [1, 1, 1],
      ]);
      const [result] = await (
        await import('../../src/reconcile/runJobs.js')
      ).runJobs(db.config, [makeJob({})], {
        dryRun: false,
        full: false,
        logger: (await import('../helpers/history.js')).silentLogger,
      });
      expect(result?.outcome).toBe('skipped');
      expect(await statuses(1)).toEqual([1, 1]);
    } finally {
      await holder.end();
    }
  });

  it('handles multi-column keys and compares, mixed-case schema-qualified names', async () => {
    await db.query(`
      CREATE SCHEMA IF NOT EXISTS "Sales";
      DROP TABLE IF EXISTS "Sales"."OrderStatus";
      CREATE TABLE "Sales"."OrderStatus" (
        "Seq" bigserial PRIMARY KEY, "Region" text NOT NULL, "OrderNo" int NOT NULL,
        "State" text, "Reason" int, "At" timestamp NOT NULL)`);
    const rows: [string, number, string | null, number | null, string][] = [
      ['eu', 1, 'open', null, '2026-01-01 00:00:01'],
      ['eu', 1, 'open', null, '2026-01-01 00:00:02'], // dup (NULL reason equal)
      ['eu', 1, 'open', 7, '2026-01-01 00:00:03'], // differs in Reason: kept
      ['us', 1, 'open', 7, '2026-01-01 00:00:04'], // other key: kept
      ['eu', 1, 'open', 7, '2026-01-01 00:00:05'], // dup
    ];
    for (const r of rows) {
      await db.query(
        `INSERT INTO "Sales"."OrderStatus" ("Region","OrderNo","State","Reason","At") VALUES ($1,$2,$3,$4,$5)`,
        r,
      );
    }
    const job = makeJob({
      name: 'order-status',
      table: 'Sales.OrderStatus',
      key: ['Region', 'OrderNo'],
      orderBy: ['At', 'Seq'],
      compare: ['State', 'Reason'],
      mode: 'archive',
      archiveTable: 'Sales.OrderStatusArchive',
      timeZone: 'UTC',
    });
    const result = await runOnce(db, job);
    expect(result.duplicatesRemoved).toBe(2);
    const left = await db.query<{ Seq: string }>(
      `SELECT "Seq"::text AS "Seq" FROM "Sales"."OrderStatus" ORDER BY "Seq"`,
    );
    expect(left.map((r) => r.Seq)).toEqual(['1', '3', '4']);
    const archived = await db.query<{ Seq: string; repeated_id: string }>(
      `SELECT "Seq"::text AS "Seq", repeated_id::text AS repeated_id FROM "Sales"."OrderStatusArchive" ORDER BY "Seq"`,
    );
    expect(archived).toEqual([
      { Seq: '2', repeated_id: '1' },
      { Seq: '5', repeated_id: '3' },
    ]);
    await db.query(`DROP SCHEMA "Sales" CASCADE`);
  });

  it('settles a date column a day at a time', async () => {
    await db.query(`CREATE TABLE daily (id serial PRIMARY KEY, object_id int, status_id int, day date)`);
    // Writers in UTC, and the job says so: its dates settle at UTC midnight. (Without a
    // timeZone a date settles when UTC-14 leaves it: timeEdges.test.ts.)
    const today = `(now() AT TIME ZONE 'UTC')::date`;
    await db.query(`INSERT INTO daily (object_id, status_id, day) VALUES
      (1, 1, ${today} - 2), (1, 1, ${today} - 1), (1, 1, ${today}), (1, 1, ${today})`);
    const job = makeJob({ name: 'daily', table: 'daily', orderBy: ['day', 'id'], timeZone: 'UTC' });
    const result = await runOnce(db, job);
    // Today's rows are not settled yet: only yesterday's row is judged a duplicate.
    expect(result).toMatchObject({ duplicatesFound: 1, duplicatesRemoved: 1 });
    const left = await db.query<{ id: number }>('SELECT id FROM daily ORDER BY id');
    expect(left.map((r) => r.id)).toEqual([1, 3, 4]);
    await db.query('DROP TABLE daily');
  });

  it('on a partitioned table removes only the duplicates (ctid repeats across partitions)', async () => {
    await db.query(`
      CREATE TABLE parted (id bigserial, object_id int NOT NULL, status_id int, start_date timestamptz NOT NULL)
        PARTITION BY HASH (object_id);
      CREATE TABLE parted_0 PARTITION OF parted FOR VALUES WITH (modulus 2, remainder 0);
      CREATE TABLE parted_1 PARTITION OF parted FOR VALUES WITH (modulus 2, remainder 1);
      INSERT INTO parted (object_id, status_id, start_date)
      SELECT o, CASE WHEN o % 2 = 0 THEN 1 ELSE i END, timestamptz '2026-01-01' + i * interval '1 second'
        FROM generate_series(1, 6) o, generate_series(1, 3) i;`);
    const result = await runOnce(
      db,
      makeJob({ name: 'parted', table: 'parted', mode: 'archive', archiveTable: 'parted_archive' }),
    );
    expect(result.duplicatesRemoved).toBe(6);
    const histories = await db.query<{ object_id: number; statuses: number[] }>(
      `SELECT object_id, array_agg(status_id ORDER BY start_date, id) AS statuses FROM parted GROUP BY 1 ORDER BY 1`,
    );
    expect(histories).toEqual([
      { object_id: 1, statuses: [1, 2, 3] },
      { object_id: 2, statuses: [1] },
      { object_id: 3, statuses: [1, 2, 3] },
      { object_id: 4, statuses: [1] },
      { object_id: 5, statuses: [1, 2, 3] },
      { object_id: 6, statuses: [1] },
    ]);
    await db.query('DROP TABLE parted, parted_archive');
  });
});
