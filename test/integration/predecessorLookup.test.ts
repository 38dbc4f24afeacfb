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

async function seed(layout: 'index' | 'pk'): Promise<Record<'H' | 'D1' | 'D2' | 'X', string>> {
  if (layout === 'pk') await db.query(`DROP INDEX object_status_object_id_start_date_id_idx`);
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

describe.each(['index', 'pk'] as const)(
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
