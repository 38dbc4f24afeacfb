/*
 * Schema changes by the application, through the real CLI: a column added to the history
 * table (a Django AddField) after the archive table was made. A run whose role owns the
 * archive adds the column there before its pass, and archives the new rows with their value;
 * a role that does not is refused (exit 2, nothing changed) with the exact ALTER TABLE, which
 * applied lets the run go on. The oracle: the history keeps the collapse of every row ever
 * inserted (the trigger-fed shadow), and every other inserted row is in the archive, once,
 * with every column equal to what was inserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines, runCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, expectCollapsedShadow, STANDARD_JOB } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import { createLoginRole, type LoginRole } from '../helpers/loginRole.js';

// Every row here is dated 2024, behind each run's checkpoint (a backfill, to an incremental
// pass): every run is --full.
const ARCHIVE = 'public.object_status_archive';
const QUOTED_ARCHIVE = '"public"."object_status_archive"';
const JOB = { ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE };

function expectCode(result: CliResult, code: number): void {
  expect(result.code, result.stdout + result.stderr).toBe(code);
}

/** The rows of a table in full, and its columns: what a run that should change nothing would change. */
async function fingerprint(db: TestDatabase, table: string): Promise<string> {
  const [row] = await db.query<{ fp: string }>(
    `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') || ':' ||
            (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
               FROM pg_catalog.pg_attribute WHERE attrelid = '${table}'::regclass AND attnum > 0
                AND NOT attisdropped) AS fp
       FROM ${table} t`,
  );
  return row?.fp ?? '';
}

/** An archive column as the catalog has it: type, collation, NOT NULL, default. */
async function archiveColumn(db: TestDatabase, name: string) {
  const [row] = await db.query<{
    type: string;
    collation: string | null;
    notNull: boolean;
    hasDefault: boolean;
  }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type, co.collname AS collation,
            a.attnotnull AS "notNull", a.atthasdef AS "hasDefault"
       FROM pg_catalog.pg_attribute a
       LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
      WHERE a.attrelid = '${ARCHIVE}'::regclass AND a.attname = $1 AND NOT a.attisdropped`,
    [name],
  );
  return row;
}

/**
 * The oracle's second half: each archived row equals, in every column of the source, the row
 * that was inserted (the shadow), whenever the column was added. Returns the number checked.
 */
async function expectArchivedAsInserted(db: TestDatabase): Promise<number> {
  const rows = await db.query<{ id: string; archived: unknown; inserted: unknown }>(
    `SELECT a.id::text AS id, to_jsonb(a) - 'archived_at' - 'repeated_id' AS archived, to_jsonb(s) AS inserted
       FROM ${ARCHIVE} a LEFT JOIN public.object_status_shadow s ON s.id = a.id`,
  );
  for (const row of rows) expect(row.archived, `archived row ${row.id}`).toEqual(row.inserted);
  return rows.length;
}

/** A database with the standard history table (with its shadow) and its indexes. */
async function historyDatabase(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  await createHistoryTable(db);
  await db.query('CREATE INDEX ON public.object_status USING brin (start_date)');
  await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
    (1, 10, '2024-01-01 00:00:00+00'), (1, 10, '2024-01-02 00:00:00+00'), (1, 20, '2024-01-03 00:00:00+00'),
    (2, 30, '2024-01-01 00:00:00+00'), (2, 30, '2024-01-02 00:00:00+00')`);
  return db;
}

/** The application's migration: on the history table, and on its shadow so the oracle sees it too. */
async function addColumns(db: TestDatabase, columns: string): Promise<void> {
  await db.query(
    `ALTER TABLE public.object_status ${columns}; ALTER TABLE public.object_status_shadow ${columns}`,
  );
}

describe('a column added to the history table, the role owning the archive', () => {
  let db: TestDatabase;
  let path: string;
  const files = jobFiles();
  const env = () => ({ DATABASE_URL: db.url, LOG_LEVEL: 'info' });

  beforeAll(async () => {
    db = await historyDatabase('e2e_schema_owner');
    path = files.write(JOB);
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
  });

  it('the first run makes the archive as the table is', async () => {
    expectCode(await runCli(['run', '--full', '--jobs', path], env()), 0);
    await expectCollapsedShadow(db, 'object_status', ARCHIVE);
    expect(await expectArchivedAsInserted(db)).toBe(2);
  });

  it('after ADD COLUMN: check says the next run adds them, a dry run says it would and changes nothing', async () => {
    await addColumns(db, `ADD COLUMN note text, ADD COLUMN code varchar(8) COLLATE "C"`);
    await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date, note, code) VALUES
      (1, 20, '2024-02-01 00:00:00+00', 'again', 'b'), (1, 20, '2024-02-02 00:00:00+00', 'once more', 'c'),
      (3, 40, '2024-02-01 00:00:00+00', 'new', NULL), (3, 40, '2024-02-02 00:00:00+00', NULL, 'x'),
      (3, 40, '2024-02-03 00:00:00+00', 'third', 'y')`);

    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 0);
    expect(checked.stdout).toContain(
      `✓ the next run adds column(s) "note" (text), "code" (character varying(8)) to ${ARCHIVE}, which lacks them`,
    );
    expect(checked.stdout).toContain('ACCESS EXCLUSIVE lock on the archive table');

    const before = [await fingerprint(db, 'public.object_status'), await fingerprint(db, ARCHIVE)];
    const dry = await runCli(['run', '--full', '--jobs', path, '--dry-run'], env());
    expectCode(dry, 0);
    const would = logLines(dry.stdout).filter((l) => String(l.msg).startsWith('dry run: would add column'));
    expect(would.map((l) => l.column)).toEqual(['note', 'code']);
    expect(String(would[0]?.msg)).toContain(`would add column "note" (text) to the archive table ${ARCHIVE}`);
    expect([await fingerprint(db, 'public.object_status'), await fingerprint(db, ARCHIVE)]).toEqual(before);
  });

  it('run adds each column (nullable, no default, the same type and collation) and archives the rows with them', async () => {
    const result = await runCli(['run', '--full', '--jobs', path], env());
    expectCode(result, 0);
    const added = logLines(result.stdout).filter((l) => String(l.msg).startsWith('added column'));
    expect(added.map((l) => [l.column, l.type, l.archiveTable])).toEqual([
      ['note', 'text', ARCHIVE],
      ['code', 'character varying(8)', ARCHIVE],
    ]);
    expect(String(added[0]?.msg)).toContain(
      `added column "note" (text) to the archive table ${ARCHIVE}: it follows public.object_status`,
    );
    expect(await archiveColumn(db, 'note')).toEqual({
      type: 'text',
      collation: null,
      notNull: false,
      hasDefault: false,
    });
    expect(await archiveColumn(db, 'code')).toEqual({
      type: 'character varying(8)',
      collation: 'C',
      notNull: false,
      hasDefault: false,
    });

    await expectCollapsedShadow(db, 'object_status', ARCHIVE);
    expect(await expectArchivedAsInserted(db)).toBe(6); // 2 before the column, 4 after
    const notes = await db.query<{ note: string | null }>(
      `SELECT note FROM ${ARCHIVE} WHERE object_id IN (1, 3) AND start_date >= '2024-02-01' ORDER BY id`,
    );
    expect(notes.map((r) => r.note)).toEqual(['again', 'once more', null, 'third']);

    // Nothing more to add: check is quiet about it, and the next run just runs.
    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 0);
    expect(checked.stdout).not.toContain('adds column');
    expectCode(await runCli(['run', '--full', '--jobs', path], env()), 0);
  });

  it('a reader holding the archive: the ALTER gives up after lockTimeoutMs, the job fails, the next run adds it', async () => {
    await addColumns(db, 'ADD COLUMN extra integer');
    await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date, extra) VALUES
      (4, 50, '2024-03-01 00:00:00+00', 1), (4, 50, '2024-03-02 00:00:00+00', 2)`);
    const quick = files.write({ ...JOB, lockTimeoutMs: 200 });
    const before = [await fingerprint(db, 'public.object_status'), await fingerprint(db, ARCHIVE)];
    const reader = await db.connect();
    try {
      await reader.query(`BEGIN; SELECT count(*) FROM ${ARCHIVE}`); // ACCESS SHARE until it ends
      const blocked = await runCli(['run', '--full', '--jobs', quick], env());
      expectCode(blocked, 1);
      const [error] = logLines(blocked.stdout).filter((l) =>
        String(l.msg).startsWith('could not add column'),
      );
      expect(String(error?.msg)).toContain(
        `could not add column(s) "extra" (integer) to the archive table ${ARCHIVE} (ALTER TABLE waits at most ` +
          'lockTimeoutMs, 200 ms, for its ACCESS EXCLUSIVE lock)',
      );
      expect(error?.fix).toBe(`ALTER TABLE ${QUOTED_ARCHIVE} ADD COLUMN IF NOT EXISTS "extra" integer`);
      expect(blocked.stderr).toContain('job "object-status" failed: column "extra" of relation');
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
    }
    // The failed batch rolled back: not a row moved.
    expect([await fingerprint(db, 'public.object_status'), await fingerprint(db, ARCHIVE)]).toEqual(before);
    const result = await runCli(['run', '--full', '--jobs', quick], env());
    expectCode(result, 0);
    expect(logLines(result.stdout).map((l) => l.column)).toContain('extra');
    await expectCollapsedShadow(db, 'object_status', ARCHIVE);
    expect(await expectArchivedAsInserted(db)).toBe(7);
  });
});

describe('a column added to the history table, the role not owning the archive', () => {
  let db: TestDatabase;
  let login: LoginRole;
  let path: string;
  const files = jobFiles();
  const env = () => ({ DATABASE_URL: login.url, LOG_LEVEL: 'warn' });
  const alter = `ALTER TABLE ${QUOTED_ARCHIVE} ADD COLUMN "flag" boolean;`;

  beforeAll(async () => {
    db = await historyDatabase('e2e_schema_role');
    login = await createLoginRole(db, 'sr_schema');
    path = files.write(JOB);
    // Exactly what an administrator applies: the reconciler's schema, the archive (theirs), the grants.
    const sql = await runCli(['sql', '--jobs', path, '--role', login.name], {});
    expectCode(sql, 0);
    await db.query(sql.stdout);
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
    await login?.drop();
  });

  it('the role runs with the grants of `sql`', async () => {
    expectCode(await runCli(['run', '--full', '--jobs', path], env()), 0);
    await expectCollapsedShadow(db, 'object_status', ARCHIVE);
  });

  it('after ADD COLUMN: check ✗ and run exit 2 with the exact ALTER TABLE, changing nothing', async () => {
    await addColumns(db, 'ADD COLUMN flag boolean');
    await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date, flag) VALUES
      (2, 30, '2024-02-01 00:00:00+00', true), (2, 30, '2024-02-02 00:00:00+00', false)`);
    const message =
      `invalid "archiveTable": ${ARCHIVE} lacks column(s) "flag" (boolean), which the reconciler fills ` +
      `(every column of public.object_status, "archived_at" and "repeated_id"), and role "${login.name}" may not ` +
      'add them: the table belongs to "';

    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 2);
    expect(checked.stdout).toContain(`✗ ${message}`);
    expect(checked.stdout).toContain(`      ${alter}\n`);

    const tables = ['public.object_status', ARCHIVE, 'status_reconciler.run_history'];
    const before = await Promise.all(tables.map((t) => fingerprint(db, t)));
    for (const args of [
      ['run', '--full', '--jobs', path],
      ['run', '--full', '--jobs', path, '--dry-run'],
    ]) {
      const result = await runCli(args, env());
      expectCode(result, 2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain(`\n    ${alter}\n`);
      expect(await Promise.all(tables.map((t) => fingerprint(db, t)))).toEqual(before);
    }
  });

  it('the ALTER TABLE applied by an administrator: check is ready and the run archives the flags', async () => {
    await db.query(alter);
    expectCode(await runCli(['check', '--jobs', path], env()), 0);
    expectCode(await runCli(['run', '--full', '--jobs', path], env()), 0);
    await expectCollapsedShadow(db, 'object_status', ARCHIVE);
    expect(await expectArchivedAsInserted(db)).toBe(4);
    const [flag] = await db.query<{ flag: boolean | null }>(
      `SELECT flag FROM ${ARCHIVE} WHERE start_date = '2024-02-02 00:00:00+00'`,
    );
    expect(flag?.flag).toBe(false);
  });
});
