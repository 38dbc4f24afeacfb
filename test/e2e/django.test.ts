/*
 * The Django example (examples/django, docs/django.md) for real, with Debian's Django 3.2 and
 * psycopg2: `manage.py migrate` builds the table, the indexes `check` asks for (CONCURRENTLY)
 * and the reader views, and changes the type of a column the views read with the views dropped
 * and created again around it. Then 16 writer processes race through the ORM ("get the latest,
 * compare, create"): half as the app's service does it, in autocommit; half stamping start_date
 * with default=timezone.now before their transaction starts and committing late. The built CLI
 * runs the example's job file again and again meanwhile, with the settleSeconds the guide's rule
 * gives for these writers. The oracle: a trigger-fed shadow of every insert (made here, not in
 * the app's migrations), and Django's own reads of the unmanaged view models.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { logLines, runCli, writeJobFile, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  DJANGO_CLIENT,
  DJANGO_EXAMPLE,
  djangoEnv,
  djangoPython,
  manage,
  startPython,
  type PythonProcess,
} from '../helpers/django.js';
import { collapse, type HistoryRow } from '../helpers/history.js';
import { requireTool } from '../helpers/tools.js';

const TABLE = 'public.tracking_objectstatus';
const ARCHIVE = 'public.tracking_objectstatus_archive';
const VIEWS = ['public.tracking_objectstatus_current', 'public.tracking_objectstatus_collapsed'];
const JOB_FILE = join(DJANGO_EXAMPLE, 'jobs', 'tracking-objectstatus.json');
const WRITERS = 16;
const OBJECTS = 12;
const WRITE_SECONDS = Number(process.env.DJANGO_WRITE_SECONDS ?? 6);
/*
 * docs/django.md: settleSeconds at least twice (clock skew + the longest time from stamping a
 * row to committing it), in whole seconds. Here writers and server share one clock (skew 0); a
 * late writer holds a stamped row up to 0.3 s before it commits (django_client.py), measured
 * 0.29-0.36 s on an idle machine and 0.55 s on a loaded one: twice that, rounded up, 2 s. The
 * test measures that time (a deferred trigger, as the guide shows) and checks it held.
 */
const SETTLE_SECONDS = 2;

const tool = djangoPython();
let db: TestDatabase;
let migrated = false;
const running: PythonProcess[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  db = await createTestDatabase('e2e_django');
});
afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) cleanup();
});
afterAll(async () => {
  await db?.drop();
});

function expectCode(result: CliResult, code: number): void {
  expect(result.code, result.stdout + result.stderr).toBe(code);
}

const cli = (...args: string[]): Promise<CliResult> => runCli(args, { DATABASE_URL: db.url });

function summary(result: CliResult): Record<string, number> {
  expectCode(result, 0);
  const line = logLines(result.stdout).find((l) => l.msg === 'run summary');
  expect(line?.outcome, result.stdout).toBe('success');
  return line as Record<string, number>;
}

/** What django_client.py read prints: TrackedObject.current_status per object, CollapsedStatus ids. */
interface DjangoReads {
  current: { object_id: string; id: string; status: string }[];
  collapsed: string[];
}

async function viewDefinitions(): Promise<string[]> {
  const rows = await db.query<{ def: string }>(
    `SELECT pg_get_viewdef(v::regclass) AS def FROM unnest($1::text[]) AS v`,
    [VIEWS],
  );
  return rows.map((r) => r.def);
}

async function publicMaySelect(): Promise<boolean[]> {
  const rows = await db.query<{ may: boolean }>(
    `SELECT has_table_privilege('public', v, 'SELECT') AS may FROM unnest($1::text[]) AS v`,
    [VIEWS],
  );
  return rows.map((r) => r.may);
}

describe('the Django example (examples/django) on Django 3.2', () => {
  it('migrates: the indexes check asks for, the reader views, an AlterField under them', async (context) => {
    const python = requireTool(tool, context);
    const env = djangoEnv(db.url);
    await manage(python, ['migrate', 'tracking', '0003'], env);
    // A reader's grant on the views, which 0004 drops and creates again around its AlterField.
    await db.query(`GRANT SELECT ON ${VIEWS.join(', ')} TO PUBLIC`);
    expect(await manage(python, ['migrate'], env)).toContain('Applying tracking.0004_longer_status... OK');
    const types = await db.query<{ type: string }>(
      `SELECT format_type(atttypid, atttypmod) AS type FROM pg_catalog.pg_attribute
        WHERE attrelid = ANY ($1::regclass[]) AND attname = 'status' ORDER BY attrelid`,
      [[TABLE, ...VIEWS]],
    );
    expect(types.map((t) => t.type)).toEqual(Array(3).fill('character varying(40)'));
    expect(await publicMaySelect()).toEqual([true, true]);
    // The migrations are those of the models (no change left for makemigrations).
    expect(await manage(python, ['makemigrations', '--check', '--dry-run'], env)).toContain(
      'No changes detected',
    );

    // `check` finds the indexes it asks for, and the job ready.
    const check = await cli('check', '--jobs', JOB_FILE);
    expectCode(check, 0);
    expect(check.stdout).toContain(
      '✓ index for the scan and the re-verification, on (object_id, start_date, id): tracking_status_history_idx',
    );
    expect(check.stdout).toContain('✓ index for incremental runs, on start_date: tracking_status_start_brin');
    const [invalid] = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM pg_catalog.pg_index WHERE indrelid = $1::regclass AND NOT indisvalid`,
      [TABLE],
    );
    expect(invalid?.n).toBe('0');

    // The views the migrations pasted are the tool's: `sql --views recreate` changes nothing.
    const pasted = await viewDefinitions();
    const recreate = await cli('sql', '--jobs', JOB_FILE, '--views', 'recreate');
    expectCode(recreate, 0);
    await db.query(recreate.stdout);
    expect(await viewDefinitions()).toEqual(pasted);
    expect(await publicMaySelect()).toEqual([true, true]);
    migrated = true;
  });

  it('racing ORM writers, some stamping timezone.now() before their transaction: nothing lost, nothing left', async (context) => {
    const python = requireTool(tool, context);
    expect(migrated, 'the migrations of the test before').toBe(true);
    const started = Date.now();
    // The oracle, beside the app: every insert copied into a shadow table, and at each commit
    // (a deferred trigger fires at COMMIT) how long after its start_date the row committed.
    await db.query(`
      CREATE TABLE ${TABLE}_shadow AS TABLE ${TABLE} WITH NO DATA;
      CREATE FUNCTION shadow_copy() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO ${TABLE}_shadow SELECT NEW.*; RETURN NEW; END $$;
      CREATE TRIGGER copy_every_insert AFTER INSERT ON ${TABLE} FOR EACH ROW EXECUTE FUNCTION shadow_copy();
      CREATE TABLE commit_lag (id bigint PRIMARY KEY, lag interval NOT NULL);
      CREATE FUNCTION record_commit_lag() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO commit_lag VALUES (NEW.id, clock_timestamp() - NEW.start_date); RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER measure_commit_lag AFTER INSERT ON ${TABLE}
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION record_commit_lag();
      INSERT INTO tracking_trackedobject (name) SELECT 'object ' || g FROM generate_series(1, ${OBJECTS}) g;
    `);
    const job = JSON.parse(readFileSync(JOB_FILE, 'utf8')) as Record<string, unknown>;
    const jobs = writeJobFile({ ...job, settleSeconds: SETTLE_SECONDS });
    cleanups.push(jobs.cleanup);

    // The writers: each connects, says ready, and starts on "go" (Python's start-up is slow).
    const writers = Array.from({ length: WRITERS }, (_, i) =>
      startPython(
        python,
        [DJANGO_CLIENT, 'write', i % 2 === 0 ? 'plain' : 'late', String(OBJECTS), String(WRITE_SECONDS)],
        djangoEnv(db.url),
      ),
    );
    running.push(...writers);
    const ready = await Promise.all(writers.map((w) => w.firstLine));
    for (const [i, line] of ready.entries()) {
      if (line !== 'ready') throw new Error(`writer ${i}: ${(await writers[i]!.done).stderr}`);
    }
    for (const w of writers) w.child.stdin?.end('go\n');
    const writing = Promise.all(writers.map((w) => w.done));
    let writersDone = false;
    void writing.then(() => (writersDone = true));

    // The reconciler, as the CronJob runs it, again and again while they write.
    let runs = 0;
    let removedWhileRacing = 0;
    while (!writersDone) {
      const line = summary(await cli('run', '--jobs', jobs.path));
      removedWhileRacing += line.duplicatesRemoved ?? 0;
      runs += 1;
    }
    const results = await writing;
    const counts = results.map((r, i) => {
      expect(r.code, `writer ${i}: ${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { mode: string; inserts: number };
    });
    const inserts = (mode: string): number =>
      counts.filter((c) => c.mode === mode).reduce((sum, c) => sum + c.inserts, 0);

    // Until every row is below the horizon (no transaction is open any more).
    for (;;) {
      const [settled] = await db.query<{ settled: boolean }>(
        `SELECT coalesce(max(start_date) < now() - make_interval(secs => $1), true) AS settled FROM ${TABLE}`,
        [SETTLE_SECONDS],
      );
      if (settled?.settled) break;
      await sleep(50);
    }

    const shadow = await db.query<HistoryRow>(
      `SELECT id::text AS id, object_id::text AS key, status,
              (extract(epoch FROM start_date) * 1000000)::bigint::text AS at FROM ${TABLE}_shadow`,
    );
    const expected = collapse(shadow);
    const lastKept = new Map<string, HistoryRow>();
    for (const row of shadow.filter((r) => expected.has(r.id))) {
      const last = lastKept.get(row.key);
      const later =
        !last || BigInt(row.at) > BigInt(last.at) || (row.at === last.at && BigInt(row.id) > BigInt(last.id));
      if (later) lastKept.set(row.key, row);
    }
    const read = async (): Promise<DjangoReads> => {
      const reader = startPython(python, [DJANGO_CLIENT, 'read'], djangoEnv(db.url));
      running.push(reader);
      reader.child.stdin?.end();
      const result = await reader.done;
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as DjangoReads;
    };

    // Before the last runs, duplicates may remain in the table; Django's reads are clean already.
    const before = await read();
    expect(new Set(before.collapsed)).toEqual(expected);
    expect(before.collapsed.length).toBe(expected.size);
    expect(before.current.map((c) => [c.object_id, c.status])).toEqual(
      [...lastKept.values()].sort((a, b) => Number(a.key) - Number(b.key)).map((r) => [r.key, r.status]),
    );

    // A last incremental run, then a full one: it finds nothing the incremental runs missed.
    const last = summary(await cli('run', '--jobs', jobs.path));
    const full = summary(await cli('run', '--jobs', jobs.path, '--full'));
    expect(full.scope).toBe('full');
    expect(full.duplicatesFound).toBe(0);
    expect(full.missedByIncremental).toBe(0);

    // Nothing lost: the table is the collapse of every row ever inserted, the rest archived once.
    const kept = (await db.query<{ id: string }>(`SELECT id::text AS id FROM ${TABLE}`)).map((r) => r.id);
    expect(new Set(kept)).toEqual(expected);
    const archived = (await db.query<{ id: string }>(`SELECT id::text AS id FROM ${ARCHIVE}`)).map(
      (r) => r.id,
    );
    expect(archived.filter((id) => expected.has(id))).toEqual([]);
    expect([...kept, ...archived].sort()).toEqual(shadow.map((r) => r.id).sort());
    // Nothing left: no consecutive duplicate by LAG.
    const [left] = await db.query<{ n: string }>(`
      SELECT count(*)::text AS n FROM (
        SELECT status IS NOT DISTINCT FROM lag(status) OVER w AND row_number() OVER w > 1 AS dup
          FROM ${TABLE} WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
       WHERE dup`);
    expect(left?.n).toBe('0');
    const duplicates = shadow.length - expected.size;
    expect(removedWhileRacing + last.duplicatesRemoved! + full.duplicatesRemoved!).toBe(duplicates);

    // Django reads one current status per object: the latest kept row.
    const after = await read();
    expect(after.current.map((c) => [c.object_id, c.id, c.status])).toEqual(
      [...lastKept.values()]
        .sort((a, b) => Number(a.key) - Number(b.key))
        .map((r) => [r.key, r.id, r.status]),
    );
    expect(after.current.length).toBe(OBJECTS);
    expect(new Set(after.collapsed)).toEqual(new Set(kept));

    // The race happened, late writers wrote, and the reconciler removed rows while they raced;
    // the premise of settleSeconds held: no row committed SETTLE_SECONDS or more after its stamp.
    const [lag] = await db.query<{ max: number; late: string }>(
      `SELECT extract(epoch FROM max(lag))::float8 AS max,
              count(*) FILTER (WHERE lag > interval '50 milliseconds')::text AS late FROM commit_lag`,
    );
    expect(duplicates).toBeGreaterThan(0);
    expect(inserts('late')).toBeGreaterThan(0);
    expect(Number(lag?.late)).toBeGreaterThan(0);
    expect(lag?.max).toBeLessThan(SETTLE_SECONDS);
    expect(runs).toBeGreaterThan(1);
    expect(removedWhileRacing).toBeGreaterThan(0);
    console.log(
      `django: ${WRITERS} writers ${WRITE_SECONDS} s: ${inserts('plain')} plain + ${inserts('late')} late inserts, ` +
        `${duplicates} consecutive duplicates; ${runs} runs started while they wrote removed ${removedWhileRacing}, ` +
        `the last ${last.duplicatesRemoved}, the full ${full.duplicatesRemoved}; longest stamp-to-commit ` +
        `${lag?.max.toFixed(3)} s (settleSeconds ${SETTLE_SECONDS}); ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
