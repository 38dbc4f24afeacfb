/*
 * Bad input through the real CLI (a subprocess on dist/cli.js): every case must exit 2 with
 * a message naming where, what, the value and what was expected, and change nothing in the
 * database. A positive control proves the database fingerprint does see a real run.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  collapse,
  createHistoryTable,
  historyRowsSql,
  STANDARD_JOB,
  type HistoryRow,
} from '../helpers/history.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(
  args: string[],
  databaseUrl: string,
  extraEnv: Record<string, string> = {},
): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    PUSHGATEWAY_URL: '',
    ...extraEnv,
  };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`the CLI did not exit normally (${error.message}); stderr: ${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Objects 1..3 with consecutive duplicates (A,A,B,B,A / C,C / D), all well in the past. */
async function seedDuplicates(db: TestDatabase): Promise<void> {
  await createHistoryTable(db);
  await db.query(`
    INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
      (1, 10, '2024-01-01 00:00:00+00'), (1, 10, '2024-01-01 00:00:00.001+00'),
      (1, 20, '2024-01-02 00:00:00+00'), (1, 20, '2024-01-03 00:00:00+00'),
      (1, 10, '2024-01-04 00:00:00+00'),
      (2, 30, '2024-01-01 00:00:00+00'), (2, 30, '2024-01-01 00:00:00+00'),
      (3, 40, '2024-01-01 00:00:00+00')`);
}

interface Snapshot {
  rows: string;
  relations: string;
  schemas: string;
  sequence: string;
}

/** Everything a wrongly-executed run could touch: the rows, every relation, every schema. */
async function snapshot(db: TestDatabase): Promise<Snapshot> {
  const [rows] = await db.query<{ fp: string | null }>(
    `SELECT count(*) || ':' || coalesce(md5(string_agg(
              id || '|' || object_id || '|' || coalesce(status_id::text, 'NULL') || '|' || start_date::text,
              ',' ORDER BY id)), '') AS fp
       FROM public.object_status`,
  );
  const [relations] = await db.query<{ list: string | null }>(
    `SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' ORDER BY n.nspname, c.relname) AS list
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
  );
  const [schemas] = await db.query<{ list: string | null }>(
    `SELECT string_agg(schema_name, ',' ORDER BY schema_name) AS list FROM information_schema.schemata`,
  );
  const [sequence] = await db.query<{ v: string }>(
    `SELECT last_value || ':' || is_called AS v FROM public.object_status_id_seq`,
  );
  return {
    rows: rows?.fp ?? '',
    relations: relations?.list ?? '',
    schemas: schemas?.list ?? '',
    sequence: sequence?.v ?? '',
  };
}

async function schemaExists(db: TestDatabase, schema: string): Promise<boolean> {
  const rows = await db.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [schema]);
  return rows.length > 0;
}

async function tableExists(db: TestDatabase, schema: string, table: string): Promise<boolean> {
  const rows = await db.query(
    `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`,
    [schema, table],
  );
  return rows.length > 0;
}

const ARCHIVE = { schema: 'public', name: 'object_status_archive' };

function validJob(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...STANDARD_JOB, ...fields };
}

let tmp: string;
let fileCounter = 0;

/** Writes a job file (objects JSON-encoded, strings as they are) and returns its path. */
function jobFile(content: unknown, name = 'job.json'): string {
  fileCounter += 1;
  const dir = join(tmp, `case-${fileCounter}`);
  mkdirSync(dir);
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sr-bad-input-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('bad input exits 2, says what is wrong, and changes nothing', () => {
  let db: TestDatabase;
  let before: Snapshot;

  beforeAll(async () => {
    db = await createTestDatabase('e2e_bad_input');
    await seedDuplicates(db);
    before = await snapshot(db);
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Runs the CLI, expects exit 2, the database untouched, and returns stderr. */
  async function expectRejected(args: string[], parts: string[]): Promise<string> {
    const result = await runCli(args, db.url);
    expect(result.stderr).toMatch(/^status-reconciler: /);
    for (const part of parts) expect(result.stderr).toContain(part);
    expect(result.code, result.stderr).toBe(2);
    expect(await snapshot(db)).toEqual(before);
    expect(await schemaExists(db, 'status_reconciler')).toBe(false);
    expect(await tableExists(db, ARCHIVE.schema, ARCHIVE.name)).toBe(false);
    return result.stderr;
  }

  it('the seed holds duplicates a run would remove', async () => {
    const rows = await db.query<HistoryRow>(historyRowsSql('public.object_status'));
    expect(rows).toHaveLength(8);
    expect(collapse(rows).size).toBe(5);
  });

  it('a job file that does not exist', async () => {
    const missing = join(tmp, 'no-such-dir', 'jobs.json');
    await expectRejected(
      ['run', '--jobs', missing],
      ['--jobs', `"${missing}"`, 'does not exist', 'expected a job file or a directory'],
    );
  });

  it('malformed JSON', async () => {
    const path = jobFile('{ "name": "object-status", "table": "public.object_status", ');
    await expectRejected(
      ['run', '--jobs', path],
      [path, 'not valid JSON', 'expected one job object or an array of them'],
    );
  });

  it('an unknown field', async () => {
    const path = jobFile({ ...validJob(), compareColumns: ['status_id'] });
    await expectRejected(
      ['run', '--jobs', path],
      [
        path,
        'unknown field "compareColumns"',
        'expected only name, description, table, key, orderBy, compare',
      ],
    );
  });

  it('an unknown mode', async () => {
    const path = jobFile(validJob({ mode: 'purge' }));
    await expectRejected(
      ['run', '--jobs', path],
      [path, '"mode"', '"purge"', 'expected "delete" or "archive"'],
    );
  });

  it('archive mode without archiveTable', async () => {
    const path = jobFile(validJob({ mode: 'archive' }));
    await expectRejected(
      ['run', '--jobs', path],
      [
        path,
        '"archiveTable"',
        'nothing (the field is missing)',
        'expected a table name when "mode" is "archive"',
      ],
    );
  });

  it.each([
    ['table', 'public.object_status; DROP TABLE public.object_status'],
    ['table', 'public.object_status" CASCADE; --'],
    ['table', '"public"."object_status"'],
    ['table', 'public.object status'],
    ['table', 'postgres.public.object_status'],
    ['archiveTable', 'public.a; DROP SCHEMA public CASCADE'],
    ['key', ['object_id) OR (true']],
    ['orderBy', ['start_date; DELETE FROM public.object_status', 'id']],
    ['compare', ['status_id"--']],
  ])('an identifier carrying SQL in %s: %j', async (field, value) => {
    const fields: Record<string, unknown> = { [field]: value };
    if (field === 'archiveTable') fields.mode = 'archive';
    const path = jobFile(validJob(fields));
    await expectRejected(
      ['run', '--jobs', path],
      [path, `"${field}"`, JSON.stringify(value), 'expected', 'no SQL quoting'],
    );
  });

  it.each([
    ['public.no_such_table'],
    ['public.Object_Status'],
    ['other.object_status'],
    ['object_status_missing'],
  ])('a table that does not exist: %s', async (table) => {
    const path = jobFile(validJob({ table }));
    const shown = table.includes('.') ? table : `public.${table}`;
    await expectRejected(
      ['run', '--jobs', path],
      [path, '"table"', shown, 'does not exist', 'expected an existing table'],
    );
  });

  it.each([
    ['key', { key: ['objectid'] }, 'objectid'],
    ['orderBy', { orderBy: ['start_date', 'row_id'] }, 'row_id'],
    ['orderBy', { orderBy: ['Start_Date', 'id'] }, 'Start_Date'],
    ['compare', { compare: ['status'] }, 'status'],
  ])('a column that does not exist in %s', async (field, fields, column) => {
    const path = jobFile(validJob(fields));
    await expectRejected(
      ['run', '--jobs', path],
      [
        path,
        `invalid "${field}"`,
        `column "${column}" does not exist`,
        'public.object_status',
        'expected one of "id", "object_id", "status_id", "start_date"',
      ],
    );
  });

  it('an orderBy whose first column is an integer, not a timestamp or date', async () => {
    const path = jobFile(validJob({ orderBy: ['id'] }));
    await expectRejected(
      ['run', '--jobs', path],
      [
        path,
        'invalid "orderBy"',
        '"id"',
        'bigint',
        'expected timestamp with time zone, timestamp without time zone or date',
      ],
    );
  });

  it('a timeZone the server does not know', async () => {
    const path = jobFile(validJob({ timeZone: 'Mars/Olympus_Mons' }));
    await expectRejected(
      ['run', '--jobs', path],
      [path, '"timeZone"', '"Mars/Olympus_Mons"', 'expected a time zone'],
    );
  });

  it('a bad job next to a good one: nothing runs, not even the good one', async () => {
    fileCounter += 1;
    const dir = join(tmp, `case-${fileCounter}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'a-good.json'), JSON.stringify(validJob({ name: 'good' })));
    writeFileSync(
      join(dir, 'b-bad.json'),
      JSON.stringify(validJob({ name: 'bad', compare: ['no_such_column'] })),
    );
    await expectRejected(
      ['run', '--jobs', dir],
      [join(dir, 'b-bad.json'), '(job "bad")', '"compare"', '"no_such_column"'],
    );
  });

  it('a --job name that no job file declares', async () => {
    const path = jobFile(validJob());
    await expectRejected(
      ['run', '--jobs', path, '--job', 'nope'],
      ['--job', '"nope"', path, 'expected one of "object-status"'],
    );
  });

  it('an unknown option', async () => {
    const path = jobFile(validJob());
    await expectRejected(
      ['run', '--jobs', path, '--frobnicate'],
      ["'--frobnicate'", 'expected run --jobs PATH'],
    );
  });

  it('--jobs without its value', async () => {
    await expectRejected(['run', '--jobs'], ['--jobs', 'expected run --jobs PATH']);
  });

  it('a stray positional argument', async () => {
    const path = jobFile(validJob());
    await expectRejected(['run', '--jobs', path, 'now'], ["'now'", 'expected run --jobs PATH']);
  });

  it('missing --jobs', async () => {
    await expectRejected(['run'], ['--jobs PATH is required', 'expected']);
    await expectRejected(['run', '--dry-run', '--full'], ['--jobs PATH is required', 'expected']);
  });

  it('an unknown command', async () => {
    const path = jobFile(validJob());
    await expectRejected(['reconcile', '--jobs', path], ['unknown command "reconcile"', 'expected run']);
  });

  it('no command at all prints the usage', async () => {
    const result = await runCli([], db.url);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage:');
    expect(await snapshot(db)).toEqual(before);
    expect(await schemaExists(db, 'status_reconciler')).toBe(false);
  });

  it('an invalid LOG_LEVEL', async () => {
    const path = jobFile(validJob());
    const result = await runCli(['run', '--jobs', path], db.url, { LOG_LEVEL: 'loud' });
    expect(result.stderr).toContain('LOG_LEVEL');
    expect(result.stderr).toContain('"loud"');
    expect(result.stderr).toContain('expected one of');
    expect(result.code).toBe(2);
    expect(await snapshot(db)).toEqual(before);
    expect(await schemaExists(db, 'status_reconciler')).toBe(false);
  });
});

describe('an unreachable database', () => {
  it('exits 1, names host and port, and never shows the password', async () => {
    const path = jobFile(validJob());
    const result = await runCli(['run', '--jobs', path], 'postgres://u:s3cretpw@127.0.0.1:1/x', {
      LOG_LEVEL: 'trace',
    });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('127.0.0.1:1');
    expect(result.stderr).toContain('"u"');
    expect(result.stderr).not.toContain('s3cretpw');
    expect(result.stdout).not.toContain('s3cretpw');
  });
});

describe('positive control: a valid job does change the database', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('e2e_bad_input_control');
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function kept(): Promise<Set<string>> {
    return collapse(await db.query<HistoryRow>(historyRowsSql('public.object_status')));
  }

  it('delete mode: exits 0, removes exactly the duplicates, and the fingerprint sees it', async () => {
    await seedDuplicates(db);
    const expected = await kept();
    const before = await snapshot(db);
    const path = jobFile(validJob());

    const result = await runCli(['run', '--jobs', path], db.url);
    expect(result.code, result.stderr).toBe(0);

    const after = await snapshot(db);
    expect(after.rows).not.toBe(before.rows);
    expect(after.schemas).not.toBe(before.schemas);
    expect(after.relations).not.toBe(before.relations);
    expect(await schemaExists(db, 'status_reconciler')).toBe(true);
    const ids = await db.query<{ id: string }>('SELECT id::text AS id FROM public.object_status ORDER BY id');
    expect(new Set(ids.map((r) => r.id))).toEqual(expected);
    expect(ids).toHaveLength(5);
  });

  it('archive mode: exits 0, creates the archive table and moves the duplicates into it', async () => {
    await db.query(
      'DROP TABLE public.object_status, public.object_status_shadow; DROP FUNCTION public.object_status_copy()',
    );
    await seedDuplicates(db);
    const expected = await kept();
    const before = await snapshot(db);
    const path = jobFile(
      validJob({
        name: 'object-status-archive',
        mode: 'archive',
        archiveTable: `${ARCHIVE.schema}.${ARCHIVE.name}`,
      }),
    );

    const result = await runCli(['run', '--jobs', path, '--full'], db.url);
    expect(result.code, result.stderr).toBe(0);

    const after = await snapshot(db);
    expect(after.rows).not.toBe(before.rows);
    expect(after.relations).not.toBe(before.relations);
    expect(await tableExists(db, ARCHIVE.schema, ARCHIVE.name)).toBe(true);
    const ids = await db.query<{ id: string }>('SELECT id::text AS id FROM public.object_status');
    expect(new Set(ids.map((r) => r.id))).toEqual(expected);
    const [archived] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM public.object_status_archive`,
    );
    expect(archived?.n).toBe(3);
  });
});
