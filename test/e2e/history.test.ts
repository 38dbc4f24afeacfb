/*
 * `history` through the real CLI, after real runs: one object's rows, kept and archived, in
 * orderBy order, checked against the rows the test inserted (the trigger-fed shadow of
 * createHistoryTable) and the independent collapse oracle, not against the reconciler's SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { collapse, resetHistoryTable, STANDARD_JOB, type HistoryRow } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';

const ARCHIVE_JOB = { ...STANDARD_JOB, mode: 'archive', archiveTable: 'public.object_status_archive' };

/** One element of `history --json`. */
interface HistoryElement {
  id: number;
  object_id: number;
  status_id: number | null;
  start_date: string;
  archived: boolean;
  archived_at?: string;
  repeated_id?: number;
}

/** An inserted row: the shadow's columns, start_date as PostgreSQL's own JSON spells it. */
interface Inserted extends HistoryRow {
  status_id: number | null;
  start_date: string;
}

/**
 * Objects 1..3, all in 2024: runs of equal statuses (1: 10 10 10 20 10, a microsecond apart at
 * its start), equal times told apart by id (2: NULL NULL, equal), a single row (3), and a
 * status that comes back (1's last 10) which must be kept.
 */
async function seed(db: TestDatabase): Promise<void> {
  await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
    (1, 10, '2024-01-01 00:00:00.000001+00'), (1, 10, '2024-01-01 00:00:00.000002+00'),
    (2, NULL, '2024-01-01 00:00:00+00'), (1, 10, '2024-01-01 00:00:05+00'),
    (2, NULL, '2024-01-01 00:00:00+00'), (1, 20, '2024-01-02 00:00:00+00'),
    (3, 30, '2024-01-01 00:00:00+00'), (1, 10, '2024-01-03 00:00:00+00'),
    (2, 40, '2024-01-04 00:00:00+00'), (2, 40, '2024-01-05 00:00:00+00')`);
}

/** Every row ever inserted (the shadow), in the order `history` must show them: (start_date, id). */
async function inserted(db: TestDatabase, object: number): Promise<Inserted[]> {
  return db.query<Inserted>(
    `SELECT id::text AS id, object_id::text AS key, status_id::text AS status, status_id,
            (extract(epoch FROM start_date) * 1000000)::bigint::text AS at,
            to_json(start_date) #>> '{}' AS start_date
       FROM public.object_status_shadow WHERE object_id = $1 ORDER BY start_date, id`,
    [object],
  );
}

async function ids(db: TestDatabase, sql: string, values: unknown[]): Promise<string[]> {
  return (await db.query<{ id: string }>(sql, values)).map((r) => r.id).sort();
}

describe('history', () => {
  let db: TestDatabase;
  const files = jobFiles();
  const env = (): Record<string, string> => ({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' });

  beforeAll(async () => {
    db = await createTestDatabase('e2e_history');
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
  });

  it('after a run in archive mode: kept + archived are every inserted row, in order, each marked', async () => {
    await resetHistoryTable(db);
    await seed(db);
    const path = files.write(ARCHIVE_JOB);
    const started = Date.now();
    const run = await runCli(['run', '--jobs', path], env());
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const all = await db.query<HistoryRow>(
      `SELECT id::text AS id, object_id::text AS key, status_id::text AS status,
              (extract(epoch FROM start_date) * 1000000)::bigint::text AS at FROM public.object_status_shadow`,
    );
    const keep = collapse(all);
    expect(all.length - keep.size).toBe(4); // the run had something to archive

    for (const object of [1, 2, 3]) {
      const result = await runCli(
        ['history', '--jobs', path, '--job', 'object-status', '--key', String(object), '--json'],
        env(),
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      const history = JSON.parse(result.stdout) as HistoryElement[];
      const rows = await inserted(db, object);
      expect(history.map((h) => String(h.id))).toEqual(rows.map((r) => r.id));
      rows.forEach((row, i) => {
        const h = history[i] as HistoryElement;
        expect(h.object_id).toBe(object);
        expect(h.status_id).toBe(row.status_id);
        expect(h.start_date).toBe(row.start_date); // microseconds included
        expect(h.archived).toBe(!keep.has(row.id));
        if (h.archived) {
          // The row it repeats is the one just before it, kept or archived itself.
          expect(String(h.repeated_id)).toBe(rows[i - 1]?.id);
          const at = Date.parse(h.archived_at ?? '');
          expect(at).toBeGreaterThanOrEqual(started - 1000);
          expect(at).toBeLessThanOrEqual(Date.now() + 1000);
          expect(Object.keys(h)).toEqual([
            'id',
            'object_id',
            'status_id',
            'start_date',
            'archived',
            'archived_at',
            'repeated_id',
          ]);
        } else {
          expect(Object.keys(h)).toEqual(['id', 'object_id', 'status_id', 'start_date', 'archived']);
        }
      });
      // And each where it says it is.
      const kept = history.filter((h) => !h.archived).map((h) => String(h.id));
      const archived = history.filter((h) => h.archived).map((h) => String(h.id));
      expect(kept.sort()).toEqual(
        await ids(db, 'SELECT id::text AS id FROM public.object_status WHERE object_id = $1', [object]),
      );
      expect(archived.sort()).toEqual(
        await ids(db, 'SELECT id::text AS id FROM public.object_status_archive WHERE object_id = $1', [
          object,
        ]),
      );
    }
    // Object 1: 10 (kept), 10, 10 (archived), 20, 10 (kept: a status that came back).
    const one = await runCli(
      ['history', '--jobs', path, '--job', 'object-status', '--key', '1', '--json'],
      env(),
    );
    expect((JSON.parse(one.stdout) as HistoryElement[]).map((h) => h.archived)).toEqual([
      false,
      true,
      true,
      false,
      false,
    ]);
  });

  it('without --json: a table for a terminal, one line a row in order, marked kept or archived', async () => {
    const path = files.write(ARCHIVE_JOB);
    const result = await runCli(['history', '--jobs', path, '--job', 'object-status', '--key', '1'], env());
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'job "object-status": object_id = 1, rows of public.object_status, archived rows from ' +
        'public.object_status_archive, in order of start_date, id',
    );
    expect(lines[1]?.trim().split(/\s+/)).toEqual([
      'id',
      'object_id',
      'status_id',
      'start_date',
      'row',
      'archived_at',
      'repeated_id',
    ]);
    const rows = await inserted(db, 1);
    const body = lines.slice(2, -1).map((l) => l.trim().split(/\s{2,}/));
    expect(body.map((cells) => cells[0])).toEqual(rows.map((r) => r.id));
    expect(body.map((cells) => cells[4])).toEqual(['kept', 'archived', 'archived', 'kept', 'kept']);
    expect(body[1]?.[6]).toBe(rows[0]?.id);
    expect(body[0]?.[3]).toBe('2024-01-01 00:00:00.000001+00');
    expect(lines.at(-1)).toBe('5 row(s): 3 kept, 2 archived');
  });

  it('a composite key: the rows of that one object, with its values read as their columns types', async () => {
    await db.query(`DROP TABLE IF EXISTS public.tenant_status, public.tenant_status_archive;
      CREATE TABLE public.tenant_status (
        id bigserial PRIMARY KEY, tenant text NOT NULL, object_id integer NOT NULL,
        status_id integer, start_date timestamptz NOT NULL);
      CREATE INDEX ON public.tenant_status (tenant, object_id, start_date, id);
      INSERT INTO public.tenant_status (tenant, object_id, status_id, start_date) VALUES
        ('acme', 1, 1, '2024-01-01'), ('acme', 1, 1, '2024-01-02'), ('acme', 1, 2, '2024-01-03'),
        ('acme', 2, 1, '2024-01-01'), ('acme', 2, 1, '2024-01-02'),
        ('zeta', 1, 1, '2024-01-01'), ('zeta', 1, 1, '2024-01-02'), ('zeta', 1, 1, '2024-01-03');`);
    const path = files.write({
      name: 'tenant-status',
      table: 'public.tenant_status',
      key: ['tenant', 'object_id'],
      orderBy: ['start_date', 'id'],
      compare: ['status_id'],
      mode: 'archive',
      archiveTable: 'public.tenant_status_archive',
      settleSeconds: 0,
    });
    const run = await runCli(['run', '--jobs', path], env());
    expect(run.code, run.stdout + run.stderr).toBe(0);

    const history = async (key: string[]): Promise<HistoryElement[]> => {
      const args = ['history', '--jobs', path, '--job', 'tenant-status', '--json'];
      const result = await runCli([...args, ...key.flatMap((k) => ['--key', k])], env());
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as HistoryElement[];
    };
    expect((await history(['zeta', '1'])).map((h) => [h.id, h.archived])).toEqual([
      [6, false],
      [7, true],
      [8, true],
    ]);
    expect((await history(['acme', '1'])).map((h) => [h.id, h.archived])).toEqual([
      [1, false],
      [2, true],
      [3, false],
    ]);
    expect(await history(['acme', '3'])).toEqual([]); // no such object: an empty array

    const one = await runCli(['history', '--jobs', path, '--job', 'tenant-status', '--key', 'acme'], env());
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('history: invalid --key: got 1 --key value(s) ("acme"); expected 2');
    expect(one.stderr).toContain('in that order: "tenant", "object_id"');
    const swapped = await runCli(
      ['history', '--jobs', path, '--job', 'tenant-status', '--key', '1', '--key', 'acme'],
      env(),
    );
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toContain(
      'history: invalid --key: got "acme" (the 2nd --key, for column "object_id"); expected a value of type integer',
    );
  });

  it('delete mode: the kept rows only, all marked kept, and stderr says why', async () => {
    await resetHistoryTable(db);
    await seed(db);
    const path = files.write(STANDARD_JOB);
    const run = await runCli(['run', '--jobs', path], env());
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = await runCli(
      ['history', '--jobs', path, '--job', 'object-status', '--key', '1', '--json'],
      env(),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('job "object-status" is in delete mode');
    expect(result.stderr).toContain('only the kept rows are shown');
    const history = JSON.parse(result.stdout) as HistoryElement[];
    expect(history.every((h) => !h.archived)).toBe(true);
    const table = await db.query<{ id: string }>(
      'SELECT id::text AS id FROM public.object_status WHERE object_id = 1 ORDER BY start_date, id',
    );
    expect(history.map((h) => String(h.id))).toEqual(table.map((r) => r.id));
    expect(history).toHaveLength(3); // 10, 20, 10: the two duplicates were deleted
  });

  it('bad usage: exit 2, saying what was expected', async () => {
    const path = files.write([ARCHIVE_JOB, { ...STANDARD_JOB, name: 'other' }]);
    for (const [args, message] of [
      [['--key', '1'], 'history: --job NAME is required exactly once; got none'],
      [['--job', 'object-status', '--job', 'other', '--key', '1'], 'got "object-status", "other"'],
      [['--job', 'object-status'], 'history: invalid --key: got no --key; expected 1'],
      [['--job', 'object-status', '--key', 'one'], 'got "one" (the 1st --key, for column "object_id")'],
      [['--job', 'object-status', '--key', '99999999999'], 'expected a value of type integer'],
      [['--job', 'object-status', '--key', '1', '--since', 'x'], "history: Unknown option '--since'"],
    ] as const) {
      const result = await runCli(['history', '--jobs', path, ...args], env());
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe('');
    }
  });
});
