import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JobPlan } from '../../src/db/plan.js';
import { migrate } from '../../src/reconcile/migrate.js';
import { planJob } from '../../src/reconcile/planJob.js';
import type { DuplicateRef } from '../../src/sql/batchRows.js';
import { connect, type Connection } from '../../src/db/connect.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { BatchRunner, scanDuplicates as scanAll } from '../helpers/batches.js';
import { resetHistoryTable, makeJob } from '../helpers/history.js';

/*
 * The re-verification of a batch against what changed since the scan, for both ways of
 * finding a duplicate's predecessor (src/reconcile/predecessorLookup.ts): `order` through the
 * (key, orderBy) index, `tieBreaker` (a table with only its primary key) through the rows the
 * scan saw before the duplicate in its stretch. The scan runs for real, then the test changes
 * the table as another session would, then one batch runs: what it removes is checked
 * against what is a duplicate now.
 *
 * Object 1: H(A) D1(A) D2(A) X(B), a second apart: D1 and D2 are duplicates of H.
 */

let db: TestDatabase;
let scanner: Connection;
let writer: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('predecessor');
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  await resetHistoryTable(db);
  scanner = await connect(db.config, 'test-scan');
  writer = await db.connect();
  await migrate(writer);
  runner = new BatchRunner(writer);
});
afterEach(async () => {
  await scanner.close();
  await writer.end();
});

type Layout = 'index' | 'pk' | 'pkbrin';

async function seed(layout: Layout): Promise<Record<'H' | 'D1' | 'D2' | 'X', string>> {
  if (layout !== 'index') await db.query(`DROP INDEX object_status_object_id_start_date_id_idx`);
  // A BRIN on the time column: batches read their stretches through it (src/sql/stretch.ts).
  if (layout === 'pkbrin')
    await db.query(`CREATE INDEX object_status_start_date_brin ON object_status USING brin (start_date)`);
  const rows = await db.query<{ id: string }>(
    `INSERT INTO object_status (object_id, status_id, start_date) VALUES
       (1, 1, '2024-01-01 00:00:01+00'), (1, 1, '2024-01-01 00:00:02+00'),
       (1, 1, '2024-01-01 00:00:03+00'), (1, 2, '2024-01-01 00:00:04+00')
     RETURNING id::text`,
  );
  const [H, D1, D2, X] = rows.map((r) => r.id) as [string, string, string, string];
  return { H, D1, D2, X };
}

let runner: BatchRunner;

const batch = (plan: JobPlan, duplicates: DuplicateRef[]): Promise<number> => runner.batch(plan, duplicates);
const scanDuplicates = (plan: JobPlan): Promise<DuplicateRef[]> => scanAll(scanner, plan);

const remaining = async (): Promise<string[]> =>
  (await db.query<{ id: string }>(`SELECT id::text FROM object_status ORDER BY start_date, id`)).map(
    (r) => r.id,
  );

describe.each(['index', 'pk', 'pkbrin'] as const)(
  're-verification against the current predecessor (%s layout)',
  (layout) => {
    const job = makeJob({ mode: 'delete', settleSeconds: 0 });

    it('chooses the lookup the indexes allow', async () => {
      await seed(layout);
      const plan = await planJob(writer, job);
      expect(plan.predecessorLookup).toBe(layout === 'index' ? 'order' : 'history');
    });

    it('the scan finds D1 and D2', async () => {
      const ids = await seed(layout);
      const found = await scanDuplicates(await planJob(writer, job));
      expect(found.map((d) => d.orderBy[1])).toEqual([ids.D1, ids.D2]);
    });

    // The review of #10: rows moved into a stretch by an UPDATE after the scan (another
    // object's B row given this key; a B row of the object given a time between the two As).
    it('a B row moved between D1 and D2 after the scan (its key updated): D2 stays', async () => {
      await seed(layout);
      await db.query(`INSERT INTO object_status (object_id, status_id, start_date)
        VALUES (2, 2, '2024-01-01 00:00:02.5+00')`);
      const plan = await planJob(writer, job);
      const [, d2] = (await scanDuplicates(plan)) as [DuplicateRef, DuplicateRef];
      await db.query(`UPDATE object_status SET object_id = 1 WHERE object_id = 2`);
      expect(await batch(plan, [d2])).toBe(0);
      expect((await remaining()).length).toBe(5);
    });

    it('the B row moved between D1 and D2 after the scan (its time updated): D2 stays', async () => {
      const ids = await seed(layout);
      const plan = await planJob(writer, job);
      const [, d2] = (await scanDuplicates(plan)) as [DuplicateRef, DuplicateRef];
      await db.query(`UPDATE object_status SET start_date = '2024-01-01 00:00:02.5+00' WHERE id = $1`, [
        ids.X,
      ]);
      expect(await batch(plan, [d2])).toBe(0);
      expect(await remaining()).toEqual([ids.H, ids.D1, ids.X, ids.D2]);
    });

    // Review of #10: the statement's own columns once shared names a table's columns may have.
    it("columns named like the statement's own (ord, toid, tid, ptoid, ptid): both go", async () => {
      const ids = await seed(layout);
      await db.query(`ALTER TABLE object_status ADD COLUMN ord int, ADD COLUMN toid int, ADD COLUMN tid text,
        ADD COLUMN ptoid int, ADD COLUMN ptid text, ADD COLUMN sf text`);
      const plan = await planJob(writer, job);
      expect(await batch(plan, await scanDuplicates(plan))).toBe(2);
      expect(await remaining()).toEqual([ids.H, ids.X]);
    });

    it('both in one batch: both go', async () => {
      const ids = await seed(layout);
      const plan = await planJob(writer, job);
      expect(await batch(plan, await scanDuplicates(plan))).toBe(2);
      expect(await remaining()).toEqual([ids.H, ids.X]);
    });

    it('D1 removed by an earlier batch: D2 still goes (its nearest row left is H)', async () => {
      const ids = await seed(layout);
      const plan = await planJob(writer, job);
      const [d1, d2] = (await scanDuplicates(plan)) as [DuplicateRef, DuplicateRef];
      expect(await batch(plan, [d1])).toBe(1);
      expect(await batch(plan, [d2])).toBe(1);
      expect(await remaining()).toEqual([ids.H, ids.X]);
    });

    it('D1 updated to another status after the scan: D2 is a real transition now and stays', async () => {
      const ids = await seed(layout);
      const plan = await planJob(writer, job);
      const [, d2] = (await scanDuplicates(plan)) as [DuplicateRef, DuplicateRef];
      await db.query(`UPDATE object_status SET status_id = 2 WHERE id = $1`, [ids.D1]);
      expect(await batch(plan, [d2])).toBe(0);
      expect(await remaining()).toEqual([ids.H, ids.D1, ids.D2, ids.X]);
    });

    it('H and D1 deleted by someone else after the scan: D2 is the first row now and stays', async () => {
      const ids = await seed(layout);
      const plan = await planJob(writer, job);
      const [, d2] = (await scanDuplicates(plan)) as [DuplicateRef, DuplicateRef];
      await db.query(`DELETE FROM object_status WHERE id = ANY ($1::bigint[])`, [[ids.H, ids.D1]]);
      expect(await batch(plan, [d2])).toBe(0);
      expect(await remaining()).toEqual([ids.D2, ids.X]);
    });

    // src/sql/stretch.ts: a batch reads only its duplicates' stretches. Object 1 also has,
    // months before H, P(A) P2(A) (P2 a duplicate of P) and Z(B): the batch [P2, D2] reads
    // [P, P2] and [H, D2], not Z. Once H and D1 are gone, the row before D2 in what the batch
    // read is P2, equal to it, while D2's real predecessor is Z: a transition that must stay.
    it('H and D1 deleted after the scan, an unread B row before them: D2 stays, P2 goes', async () => {
      const ids = await seed(layout);
      const early = await db.query<{ id: string }>(
        `INSERT INTO object_status (object_id, status_id, start_date) VALUES
           (1, 1, '2023-06-01 00:00:00+00'), (1, 1, '2023-06-01 00:00:01+00'), (1, 2, '2023-12-01 00:00:00+00')
         RETURNING id::text`,
      );
      const [P, P2, Z] = early.map((r) => r.id) as [string, string, string];
      const plan = await planJob(writer, job);
      const found = await scanDuplicates(plan);
      // (by id: P2 was inserted last)
      expect(found.map((d) => d.orderBy[1])).toEqual([ids.D1, ids.D2, P2]);
      const [, d2, p2] = found as [DuplicateRef, DuplicateRef, DuplicateRef];
      await db.query(`DELETE FROM object_status WHERE id = ANY ($1::bigint[])`, [[ids.H, ids.D1]]);
      expect(await batch(plan, [p2, d2])).toBe(1);
      expect(await remaining()).toEqual([P, Z, ids.D2, ids.X]);
    });

    // More stretches than a batch reads ranges (MAX_STRETCH_RANGES): the nearest are joined.
    it('duplicates of 40 objects a day apart in one batch: every one goes, nothing else', async () => {
      await seed(layout);
      await db.query(
        `INSERT INTO object_status (object_id, status_id, start_date)
         SELECT 100 + g, s, '2023-01-01 00:00:00+00'::timestamptz + g * interval '1 day' + s * interval '1 second'
           FROM generate_series(1, 40) g, (VALUES (1), (1), (2)) v(s)`,
      );
      const before = (await remaining()).length;
      const plan = await planJob(writer, job);
      const found = await scanDuplicates(plan);
      expect(found).toHaveLength(42);
      expect(await batch(plan, found)).toBe(42);
      expect((await remaining()).length).toBe(before - 42);
      const left = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM (SELECT status_id, lag(status_id) OVER w AS p FROM object_status
           WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) x WHERE p = status_id`,
      );
      expect(left[0]?.n).toBe('0');
    });

    it('D2 itself updated after the scan (it moved to a new ctid): not removed by its old address', async () => {
      const ids = await seed(layout);
      const plan = await planJob(writer, job);
      const [, d2] = (await scanDuplicates(plan)) as [DuplicateRef, DuplicateRef];
      await db.query(`UPDATE object_status SET status_id = 2 WHERE id = $1`, [ids.D2]);
      expect(await batch(plan, [d2])).toBe(0);
      expect(await remaining()).toEqual([ids.H, ids.D1, ids.D2, ids.X]);
    });
  },
);
