/*
 * The reader views of `status-reconciler sql` and the application's migrations, through the
 * real CLI: with the views in place an ALTER COLUMN ... TYPE on a column they read fails (as
 * a Django AlterField does); `sql --views drop` and `--views create` wrapped around it, in
 * one transaction, let it through, and the views then return the same rows as before, with
 * their readers' grants. `--views recreate` after an ADD COLUMN shows the new column.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, STANDARD_JOB } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import { createLoginRole, type LoginRole } from '../helpers/loginRole.js';

const VIEWS = ['public.object_status_current', 'public.object_status_collapsed'];

function expectCode(result: CliResult, code: number): void {
  expect(result.code, result.stdout + result.stderr).toBe(code);
}

describe('reader views around a migration', () => {
  let db: TestDatabase;
  let reader: LoginRole;
  let path: string;
  let before: string[];
  const files = jobFiles();

  /** What a reader sees in each view, as text (so a column's new type changes nothing). */
  async function viewRows(): Promise<string[]> {
    const out: string[] = [];
    for (const view of VIEWS) {
      const rows = await db.query<{ row: string }>(
        `SELECT v::text AS row FROM ${view} v ORDER BY v.object_id, v.start_date, v.id`,
      );
      out.push(rows.map((r) => r.row).join('\n'));
    }
    return out;
  }

  async function readerMaySelect(): Promise<boolean[]> {
    const rows = await db.query<{ may: boolean }>(
      `SELECT has_table_privilege($1, v, 'SELECT') AS may FROM unnest($2::text[]) AS v`,
      [reader.name, VIEWS],
    );
    return rows.map((r) => r.may);
  }

  async function sql(...args: string[]): Promise<string> {
    const result = await runCli(['sql', '--jobs', path, ...args], {});
    expectCode(result, 0);
    return result.stdout;
  }

  beforeAll(async () => {
    db = await createTestDatabase('e2e_view_migrations');
    await createHistoryTable(db);
    await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
      (1, 10, '2024-01-01 00:00:00+00'), (1, 10, '2024-01-02 00:00:00+00'), (1, 20, '2024-01-03 00:00:00+00'),
      (1, 10, '2024-01-04 00:00:00+00'), (2, NULL, '2024-01-01 00:00:00+00'), (2, NULL, '2024-01-02 00:00:00+00'),
      (3, 30, '2024-01-01 00:00:00+00')`);
    reader = await createLoginRole(db, 'sr_reader');
    path = files.write(STANDARD_JOB);
    // The views as an administrator creates them: from the whole `sql` script.
    await db.query(await sql());
    await db.query(`GRANT SELECT ON ${VIEWS.join(', ')} TO ${pg.escapeIdentifier(reader.name)}`);
    before = await viewRows();
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
    await reader?.drop();
  });

  it('the script says what to do around a migration', async () => {
    const script = await sql();
    expect(script).toContain(`status-reconciler sql --jobs ${path} --views drop     (before it)`);
    const drop = await sql('--views', 'drop');
    expect(drop).toContain('DROP VIEW IF EXISTS "public"."object_status_collapsed";');
    expect(drop).not.toMatch(/^(BEGIN|COMMIT);/m);
    expect(drop).not.toContain('CREATE OR REPLACE VIEW');
    const recreate = await sql('--views', 'recreate');
    expect(recreate).toMatch(/^BEGIN;$[^]*DROP VIEW IF EXISTS[^]*CREATE OR REPLACE VIEW[^]*^COMMIT;$/m);
  });

  it('with the views in place, ALTER COLUMN ... TYPE on a column they read fails', async () => {
    await expect(
      db.query('ALTER TABLE public.object_status ALTER COLUMN status_id TYPE bigint'),
    ).rejects.toThrow('cannot alter type of a column used by a view or rule');
  });

  it('--views drop and --views create around it, in one transaction: it succeeds, the views are as before', async () => {
    const [drop, create] = [await sql('--views', 'drop'), await sql('--views', 'create')];
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(drop);
      await client.query('ALTER TABLE public.object_status ALTER COLUMN status_id TYPE bigint');
      await client.query(create);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    const [type] = await db.query<{ type: string }>(
      `SELECT format_type(atttypid, atttypmod) AS type FROM pg_catalog.pg_attribute
        WHERE attrelid = 'public.object_status_collapsed'::regclass AND attname = 'status_id'`,
    );
    expect(type?.type).toBe('bigint');
    expect(await viewRows()).toEqual(before);
    expect(await readerMaySelect()).toEqual([true, true]);
  });

  it('after ADD COLUMN, --views recreate shows the new column, keeping the grants', async () => {
    await db.query(`ALTER TABLE public.object_status ADD COLUMN note text;
                    UPDATE public.object_status SET note = 'n' || id`);
    const columns = async (): Promise<string[]> =>
      (
        await db.query<{ name: string }>(
          `SELECT attname AS name FROM pg_catalog.pg_attribute
            WHERE attrelid = 'public.object_status_current'::regclass AND attnum > 0 ORDER BY attnum`,
        )
      ).map((r) => r.name);
    expect(await columns()).not.toContain('note');
    await db.query(await sql('--views', 'recreate'));
    expect(await columns()).toEqual(['id', 'object_id', 'status_id', 'start_date', 'note']);
    const notes = await db.query<{ note: string }>(
      'SELECT note FROM public.object_status_collapsed ORDER BY id',
    );
    expect(notes.map((r) => r.note)).toEqual(['n1', 'n3', 'n4', 'n5', 'n7']);
    expect(await readerMaySelect()).toEqual([true, true]);
  });

  it('--views takes a mode, and not --role', async () => {
    const bad = await runCli(['sql', '--jobs', path, '--views', 'all'], {});
    expectCode(bad, 2);
    expect(bad.stderr).toContain('invalid --views: got "all"; expected recreate, drop, create');
    const both = await runCli(['sql', '--jobs', path, '--views', 'drop', '--role', 'x'], {});
    expectCode(both, 2);
    expect(both.stderr).toContain('--role and --views do not go together');
  });
});
