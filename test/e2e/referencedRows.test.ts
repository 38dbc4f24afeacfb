/*
 * Foreign keys that reference the history table, through the real CLI. A duplicate that a
 * row of another table references is kept: never deleted, so ON DELETE CASCADE never takes
 * that row with it (in archive mode neither) and NO ACTION never fails a batch. It is counted
 * (referencedKept), named in a warning, and never holds back the rest of the pass; a later
 * full pass removes it once nothing references it. `check` names the constraints.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logLines, runCli } from '../helpers/cli.js';
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
import { createLoginRole, type LoginRole } from '../helpers/loginRole.js';

const ARCHIVE = 'public.object_status_archive';
let db: TestDatabase;
const files = jobFiles();
const env = (url = db.url): Record<string, string> => ({ DATABASE_URL: url });

beforeAll(async () => {
  db = await createTestDatabase('e2e_referenced');
});
afterAll(async () => {
  files.cleanup();
  await db?.drop();
});
beforeEach(async () => {
  await resetHistoryTable(db, ['status_note', 'status_ack']);
  await seedStretches(db, 20, 20); // 320 duplicates
});

/** Notes on the first (kept) and second (duplicate) row of objects 1-3; returns the duplicates' ids. */
async function noteRows(onDelete: string): Promise<string[]> {
  await db.query(`CREATE TABLE status_note (
      id serial PRIMARY KEY,
      status_ref bigint NOT NULL REFERENCES object_status (id) ${onDelete},
      note text);
    CREATE INDEX ON status_note (status_ref);`);
  const referenced: string[] = [];
  for (const object of [1, 2, 3]) {
    const kept = await nthRowId(db, object, 1);
    const duplicate = await nthRowId(db, object, 2);
    await db.query(`INSERT INTO status_note (status_ref, note) VALUES ($1, 'kept'), ($2, 'duplicate')`, [
      kept,
      duplicate,
    ]);
    referenced.push(duplicate);
  }
  return referenced;
}

const notes = async (): Promise<string[]> =>
  (
    await db.query<{ n: string }>(
      `SELECT n.id || ':' || n.status_ref AS n FROM status_note n
        WHERE EXISTS (SELECT 1 FROM object_status s WHERE s.id = n.status_ref) ORDER BY n.id`,
    )
  ).map((r) => r.n);

/** The summary of a pass over the seeded stretches with noteRows' three referenced duplicates. */
const THREE_NOTES_KEPT = {
  outcome: 'success',
  duplicatesFound: 320,
  duplicatesRemoved: 317,
  referencedKept: 3,
  lockedSkipped: 0,
};

describe('a foreign key references the history table', () => {
  it('ON DELETE CASCADE, archive mode: no child row is deleted; referenced duplicates are kept and reported', async () => {
    const referenced = await noteRows('ON DELETE CASCADE');
    const before = await notes();
    expect(before).toHaveLength(6);
    const path = files.write({ ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE, batchSize: 50 });

    const run = await runCli(['run', '--jobs', path], env());
    expectExit(run, 0);
    expect(await notes()).toEqual(before); // every note, still referencing a row that exists
    expect(summaryOf(run)).toMatchObject(THREE_NOTES_KEPT);
    await expectCollapsedKeeping(db, referenced, { archive: ARCHIVE });
    await expectBlockedRecorded(db, { referencedKept: 3, lockedSkipped: 0 });
    const [warning] = warningsWith(run, 'referencedKept');
    expect(warning?.msg).toContain(
      '"status_note_status_ref_fkey" on public.status_note (status_ref) ON DELETE CASCADE',
    );
    expect(warning?.constraints).toEqual([
      {
        constraint: 'status_note_status_ref_fkey',
        table: 'public.status_note',
        columns: ['status_ref'],
        rows: 3,
      },
    ]);
    // (batches take duplicates in physical order, not by key: the sample names them in any order)
    expect(
      (warning?.rows as { id: string; object_id: string }[]).map((r) => [r.object_id, r.id]).sort(),
    ).toEqual(referenced.map((id, i) => [String(i + 1), id]).sort());

    // Not retried by incremental runs; once nothing references them, a full pass removes them.
    await db.query(`DELETE FROM status_note WHERE note = 'duplicate'`);
    const incremental = await runCli(['run', '--jobs', path], env());
    expect(summaryOf(incremental)).toMatchObject({ scope: 'incremental', duplicatesRemoved: 0 });
    const full = await runCli(['run', '--jobs', path, '--full'], env());
    expect(summaryOf(full)).toMatchObject({ scope: 'full', duplicatesRemoved: 3, referencedKept: 0 });
    await expectBlockedRecorded(db, { referencedKept: 0, lockedSkipped: 0 });
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });

  it('NO ACTION, small batches: the referenced duplicate is kept and every later batch still runs', async () => {
    await db.query(`CREATE TABLE status_ack (status_ref bigint REFERENCES object_status (id))`);
    const duplicate = await nthRowId(db, 1, 2); // object 1: the first batch
    await db.query(`INSERT INTO status_ack VALUES ($1)`, [duplicate]);
    const path = files.write({ ...STANDARD_JOB, batchSize: 4 });

    const run = await runCli(['run', '--jobs', path], env());
    expectExit(run, 0);
    const summary = summaryOf(run);
    expect(summary).toMatchObject({ outcome: 'success', duplicatesRemoved: 319, referencedKept: 1 });
    expect(summary.batches).toBeGreaterThanOrEqual(80);
    await expectCollapsedKeeping(db, [duplicate]);
    expect(
      await db.query(`SELECT 1 FROM status_ack a JOIN object_status s ON s.id = a.status_ref`),
    ).toHaveLength(1);
  });

  it('a partitioned table, a multi-column foreign key from a partitioned child, and a self-reference', async () => {
    await db.query(
      `DROP TABLE object_status, object_status_shadow CASCADE; DROP FUNCTION object_status_copy;`,
    );
    await db.query(`
      CREATE TABLE object_status (
        id bigserial, object_id integer NOT NULL, status_id integer,
        start_date timestamptz NOT NULL, replaces bigint, replaces_at timestamptz,
        PRIMARY KEY (id, start_date),
        FOREIGN KEY (replaces, replaces_at) REFERENCES object_status (id, start_date) ON DELETE SET NULL
      ) PARTITION BY RANGE (start_date);
      CREATE TABLE object_status_2024a PARTITION OF object_status
        FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-01-01 00:00:10+00');
      CREATE TABLE object_status_2024b PARTITION OF object_status
        FOR VALUES FROM ('2024-01-01 00:00:10+00') TO ('2025-01-01 00:00:00+00');
      CREATE INDEX ON object_status (object_id, start_date, id);
      CREATE TABLE object_status_shadow (id bigint, object_id integer, status_id integer, start_date timestamptz);
      CREATE FUNCTION object_status_copy() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO object_status_shadow VALUES (NEW.id, NEW.object_id, NEW.status_id, NEW.start_date);
        RETURN NEW; END $$;
      CREATE TRIGGER copy_every_insert AFTER INSERT ON object_status
        FOR EACH ROW EXECUTE FUNCTION object_status_copy();
      CREATE TABLE status_note (id serial, status_ref bigint, status_at timestamptz,
        FOREIGN KEY (status_ref, status_at) REFERENCES object_status (id, start_date) ON DELETE CASCADE
      ) PARTITION BY HASH (id);
      CREATE TABLE status_note_0 PARTITION OF status_note FOR VALUES WITH (MODULUS 2, REMAINDER 0);
      CREATE TABLE status_note_1 PARTITION OF status_note FOR VALUES WITH (MODULUS 2, REMAINDER 1);`);
    await seedStretches(db, 4, 20);
    const at = async (object: number, n: number): Promise<[string, string]> => {
      const id = await nthRowId(db, object, n);
      const [row] = await db.query<{ t: string }>(
        `SELECT start_date::text AS t FROM object_status WHERE id = $1`,
        [id],
      );
      return [id, row!.t];
    };
    const inFirst = await at(1, 2); // a duplicate in the first partition
    const inSecond = await at(2, 12); // one in the second
    const selfReferenced = await at(3, 17);
    for (const row of [inFirst, inSecond])
      await db.query(`INSERT INTO status_note (status_ref, status_at) VALUES ($1, $2)`, row);
    // A kept row of object 4 says it replaces object 3's duplicate.
    await db.query(`UPDATE object_status SET (replaces, replaces_at) = ($1, $2) WHERE id = $3`, [
      ...selfReferenced,
      await nthRowId(db, 4, 1),
    ]);
    const path = files.write({ ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE, batchSize: 7 });

    const run = await runCli(['run', '--jobs', path], env());
    expectExit(run, 0);
    expect(summaryOf(run)).toMatchObject({ duplicatesRemoved: 61, referencedKept: 3 });
    expect(await db.query(`SELECT 1 FROM status_note`)).toHaveLength(2);
    expect(await db.query(`SELECT 1 FROM object_status WHERE replaces IS NOT NULL`)).toHaveLength(1);
    await expectCollapsedKeeping(db, [inFirst[0], inSecond[0], selfReferenced[0]], { archive: ARCHIVE });
    const [warning] = warningsWith(run, 'referencedKept');
    expect((warning?.constraints as { constraint: string }[]).map((c) => c.constraint).sort()).toEqual([
      'object_status_replaces_replaces_at_fkey',
      'status_note_status_ref_status_at_fkey',
    ]);
  });
});

describe('check names the referencing constraints', () => {
  let login: LoginRole | undefined;
  afterAll(async () => {
    if (!login) return;
    await db.query(`DROP OWNED BY "${login.name}"`);
    await login.drop();
  });

  it('a warning naming each, an index to add, and ✗ with the GRANT for a role that cannot read one', async () => {
    await noteRows('ON DELETE CASCADE');
    await db.query(`CREATE TABLE status_ack (status_ref bigint REFERENCES object_status (id));
      CREATE INDEX ON object_status USING brin (start_date);`);
    const path = files.write({ ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE });

    const check = await runCli(['check', '--jobs', path], { ...env(), LOG_LEVEL: 'warn' });
    expectExit(check, 0);
    expect(check.stdout).toContain(
      '! public.object_status is referenced by 2 foreign key(s): "status_ack_status_ref_fkey" on public.status_ack ' +
        '(status_ref) ON DELETE NO ACTION; "status_note_status_ref_fkey" on public.status_note (status_ref) ' +
        'ON DELETE CASCADE. A duplicate that a row there references is kept, never deleted',
    );
    expect(check.stdout).toContain('! no index on public.status_ack leads with (status_ref)');
    expect(check.stdout).toContain('CREATE INDEX CONCURRENTLY ON "public"."status_ack" ("status_ref");');

    // A role with exactly what `sql` grants, and nothing on the referencing tables.
    login = await createLoginRole(db, 'sr_ref');
    const script = await runCli(['sql', '--jobs', path, '--role', login.name], {});
    expectExit(script, 0);
    await db.query(script.stdout);
    const refused = await runCli(['check', '--jobs', path], { ...env(login.url), LOG_LEVEL: 'warn' });
    expectExit(refused, 2);
    expect(refused.stdout).toContain(
      `✗ foreign key "status_note_status_ref_fkey" on public.status_note (status_ref) ON DELETE CASCADE references ` +
        `the history table, and role "${login.name}" cannot read public.status_note (status_ref)`,
    );
    expect(refused.stdout).toContain(
      `GRANT SELECT ("status_ref") ON TABLE "public"."status_note" TO "${login.name}";`,
    );
    // run refuses it as check does: a configuration error, exit 2, before anything changes.
    const rowsBefore = await db.query(`SELECT count(*)::int AS n FROM object_status`);
    const refusedRun = await runCli(['run', '--jobs', path], env(login.url));
    expectExit(refusedRun, 2);
    expect(refusedRun.stderr).toContain('cannot read public.status_note (status_ref)');
    expect(refusedRun.stderr).toContain(`GRANT SELECT ("status_ref") ON TABLE "public"."status_note"`);
    expect(await db.query(`SELECT count(*)::int AS n FROM object_status`)).toEqual(rowsBefore);
    expect(await db.query(`SELECT count(*)::int AS n FROM object_status_archive`)).toEqual([{ n: 0 }]);

    await db.query(`GRANT SELECT (status_ref) ON status_note, status_ack TO "${login.name}"`);
    const ready = await runCli(['check', '--jobs', path], { ...env(login.url), LOG_LEVEL: 'warn' });
    expectExit(ready, 0);
    const run = await runCli(['run', '--jobs', path], env(login.url));
    expectExit(run, 0);
    expect(summaryOf(run)).toMatchObject({ duplicatesRemoved: 317, referencedKept: 3 });
  });
});

describe('a DEFERRABLE foreign key references the history table', () => {
  it('check warns (!) naming it, the lost COMMIT and the fix; run logs the same warning at its start', async () => {
    await db.query(`CREATE TABLE status_note (
        id serial PRIMARY KEY,
        status_ref bigint REFERENCES object_status (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
      CREATE INDEX ON status_note (status_ref);
      CREATE INDEX ON object_status USING brin (start_date);`);
    const path = files.write(STANDARD_JOB);
    const message =
      'foreign key "status_note_status_ref_fkey" on public.status_note (status_ref) ON DELETE CASCADE references ' +
      'the history table and is DEFERRABLE: a transaction that defers it (INITIALLY DEFERRED, or SET CONSTRAINTS ' +
      '... DEFERRED) checks and locks the row it references only at its COMMIT, so until then the reconciler ' +
      "cannot see that reference, may remove that duplicate, and the application's COMMIT then fails with a " +
      'foreign key violation';
    const fix =
      'ALTER TABLE "public"."status_note" ALTER CONSTRAINT "status_note_status_ref_fkey" NOT DEFERRABLE;';

    const check = await runCli(['check', '--jobs', path], { ...env(), LOG_LEVEL: 'warn' });
    expectExit(check, 0); // a warning: the job is ready
    expect(check.stdout).toContain(`! ${message}`);
    expect(check.stdout).toContain(`      ${fix}`);

    const run = await runCli(['run', '--jobs', path, '--dry-run'], env());
    expectExit(run, 0);
    const logged = logLines(run.stdout).filter((l) => l.level === 40 && String(l.msg).startsWith(message));
    expect(logged).toEqual([expect.objectContaining({ job: 'object-status', fix })]);

    await db.query(fix);
    const fixed = await runCli(['check', '--jobs', path], { ...env(), LOG_LEVEL: 'warn' });
    expectExit(fixed, 0);
    expect(fixed.stdout).not.toContain('DEFERRABLE');
    const quiet = await runCli(['run', '--jobs', path], env());
    expectExit(quiet, 0);
    expect(logLines(quiet.stdout).filter((l) => String(l.msg).includes('DEFERRABLE'))).toEqual([]);
  });

  it('a NOT DEFERRABLE one (the default) is not warned about', async () => {
    await db.query(`CREATE TABLE status_ack (status_ref bigint REFERENCES object_status (id));
      CREATE INDEX ON object_status USING brin (start_date);`);
    const check = await runCli(['check', '--jobs', files.write(STANDARD_JOB)], {
      ...env(),
      LOG_LEVEL: 'warn',
    });
    expectExit(check, 0);
    expect(check.stdout).toContain('"status_ack_status_ref_fkey" on public.status_ack');
    expect(check.stdout).not.toContain('DEFERRABLE');
  });
});

// The `history` lookup (no (key, orderBy) index) removes through src/sql/historyCollapse.ts,
// its own statement: the same guarantees, with the rows locked by the batch's first statement.
describe('a foreign key references a table with only its primary key', () => {
  it('ON DELETE CASCADE, archive mode, small batches: referenced duplicates kept, the rest archived', async () => {
    await db.query(`DROP INDEX object_status_object_id_start_date_id_idx`);
    const referenced = await noteRows('ON DELETE CASCADE');
    const before = await notes();
    const path = files.write({ ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE, batchSize: 7 });

    const run = await runCli(['run', '--jobs', path], env());
    expectExit(run, 0);
    expect(await notes()).toEqual(before);
    expect(summaryOf(run)).toMatchObject(THREE_NOTES_KEPT);
    await expectCollapsedKeeping(db, referenced, { archive: ARCHIVE });
    await db.query(`DELETE FROM status_note WHERE note = 'duplicate'`);
    const full = await runCli(['run', '--jobs', path, '--full'], env());
    expect(summaryOf(full)).toMatchObject({ scope: 'full', duplicatesRemoved: 3, referencedKept: 0 });
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });
});
