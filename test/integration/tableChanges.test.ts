import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/db/connect.js';
import { TableChangedError } from '../../src/reconcile/batchCommit.js';
import { migrate } from '../../src/reconcile/migrate.js';
import { planJob } from '../../src/reconcile/planJob.js';
import { BatchRunner, scanDuplicates } from '../helpers/batches.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { resetHistoryTable, makeJob, runOnce } from '../helpers/history.js';
import { createLoginRole, type LoginRole } from '../helpers/loginRole.js';

/*
 * The table changed by someone else between a run's planning (and scan) and its batches,
 * found by the review of #9 to lose data: row-level security turned on (A, B, A with the B
 * hidden reads A, A) and, in archive mode, a column added (the archive INSERT listed the
 * planned columns: the new values were gone from both tables). Each batch re-reads both
 * under its table lock, removes nothing and stops the run.
 */

let db: TestDatabase;
let role: LoginRole;
let scanner: Connection;
let writer: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('table_changes');
  role = await createLoginRole(db, 'sr_changes');
});
afterAll(async () => {
  await db.query(`DROP OWNED BY "${role.name}"`);
  await db.drop();
  await role.drop();
});
beforeEach(async () => {
  await resetHistoryTable(db);
});
afterEach(async () => {
  await scanner?.close();
  await writer?.end();
});

/** Object 1: A, B, A, A (one duplicate, the last); the role may do what `sql` grants and more. */
async function seedAsRole(job: ReturnType<typeof makeJob>): Promise<void> {
  await runOnce(db, job); // creates the reconciler's schema (and the archive table)
  await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (1, 1, '2024-01-01 00:00:01+00'), (1, 2, '2024-01-01 00:00:02+00'),
      (1, 1, '2024-01-01 00:00:03+00'), (1, 1, '2024-01-01 00:00:04+00');
    GRANT USAGE ON SCHEMA status_reconciler TO "${role.name}";
    GRANT ALL ON ALL TABLES IN SCHEMA status_reconciler, public TO "${role.name}";
    GRANT ALL ON ALL SEQUENCES IN SCHEMA status_reconciler, public TO "${role.name}";`);
  scanner = await connect({ connectionString: role.url }, 'test-scan');
  writer = new pg.Client({ connectionString: role.url });
  await writer.connect();
  await migrate(writer);
}

const rows = async (table = 'object_status'): Promise<number> =>
  Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]?.n);

describe('the table changed after the run planned it', () => {
  it('row-level security turned on: the batch removes nothing and names it', async () => {
    const job = makeJob({ mode: 'delete', settleSeconds: 0 });
    await seedAsRole(job);
    const plan = await planJob(writer, job);
    const duplicates = await scanDuplicates(scanner, plan);
    expect(duplicates).toHaveLength(1);
    await db.query(`ALTER TABLE object_status ENABLE ROW LEVEL SECURITY;
      CREATE POLICY everything ON object_status USING (true);`);
    const attempt = new BatchRunner(writer).batch(plan, duplicates);
    await expect(attempt).rejects.toBeInstanceOf(TableChangedError);
    await expect(attempt).rejects.toThrow(/row-level security became active/);
    expect(await rows()).toBe(4);
  });

  it('archive mode, a column added: the batch removes nothing and names the column', async () => {
    const job = makeJob({ mode: 'archive', archiveTable: 'public.object_status_archive', settleSeconds: 0 });
    await seedAsRole(job);
    const plan = await planJob(writer, job);
    const duplicates = await scanDuplicates(scanner, plan);
    await db.query(
      `ALTER TABLE object_status ADD COLUMN comment text; UPDATE object_status SET comment = 'kept';`,
    );
    const attempt = new BatchRunner(writer).batch(plan, duplicates);
    await expect(attempt).rejects.toThrow(
      /its columns changed while the run was going on \(added: comment\)/,
    );
    expect([await rows(), await rows('object_status_archive')]).toEqual([4, 0]);

    // The next run adds the column to the archive first, and archives the value with the row.
    await db.query(`DELETE FROM status_reconciler.lease`); // the test's batch runner is gone
    await runOnce(db, job, { full: true });
    const archived = await db.query<{ comment: string }>(`SELECT comment FROM object_status_archive`);
    expect(archived).toEqual([{ comment: 'kept' }]);
  });

  it('delete mode, a column added: nothing to leave behind, the batch goes on', async () => {
    const job = makeJob({ mode: 'delete', settleSeconds: 0 });
    await seedAsRole(job);
    const plan = await planJob(writer, job);
    const duplicates = await scanDuplicates(scanner, plan);
    await db.query(`ALTER TABLE object_status ADD COLUMN comment text`);
    expect(await new BatchRunner(writer).batch(plan, duplicates)).toBe(1);
    expect(await rows()).toBe(3);
  });
});
