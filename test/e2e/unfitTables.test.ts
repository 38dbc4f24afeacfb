/*
 * Tables a job cannot run on as they are, through the real CLI: row-level security that
 * hides rows from the reconciler's role, key/orderBy/compare types without the operators
 * the reconciler uses, an existing archive table that cannot take the archived rows. Each
 * is exit 2 from `run` before anything changes (and ✗ from `check`), naming the table, the
 * column or the role and the fix; the fix, applied, lets the run remove exactly the real
 * duplicates (the oracle: the collapse of every row ever inserted).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, expectCollapsedShadow, STANDARD_JOB } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import { createLoginRole, type LoginRole } from '../helpers/loginRole.js';

const ARCHIVE = 'public.object_status_archive';

/** The rows of a table, in full: what a wrongly-executed run would change. */
async function rowsOf(db: TestDatabase, table: string): Promise<string> {
  const [row] = await db.query<{ fp: string }>(
    `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') AS fp FROM ${table} t`,
  );
  return row?.fp ?? '';
}

async function schemaExists(db: TestDatabase, schema: string): Promise<boolean> {
  return (await db.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [schema])).length > 0;
}

/** The fix lines `check` printed under its ✗ and ! findings (indented six spaces), as they are. */
function fixLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('      '))
    .map((l) => l.trim());
}

function expectCode(result: CliResult, code: number): void {
  expect(result.code, result.stdout + result.stderr).toBe(code);
}

/** A database of its own with the standard history table, its indexes, and these rows. */
async function historyDatabase(prefix: string, rows: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  await createHistoryTable(db);
  await db.query('CREATE INDEX ON public.object_status USING brin (start_date)');
  await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date) VALUES ${rows}`);
  return db;
}

describe('row-level security that hides rows from the role', () => {
  let db: TestDatabase;
  let login: LoginRole;
  let role: string;
  let r: string;
  let roleUrl: string;
  let path: string;
  let script: string;
  const files = jobFiles();
  const env = (url: string) => ({ DATABASE_URL: url, LOG_LEVEL: 'warn' });

  beforeAll(async () => {
    // Object 1: A, B, A (a real transition each time). Object 2: C, C (one real duplicate).
    // Object 3: B, B (one real duplicate, both rows hidden by the policy below).
    db = await historyDatabase(
      'e2e_unfit_rls',
      `(1, 10, '2024-01-01 00:00:00+00'), (1, 20, '2024-01-02 00:00:00+00'), (1, 10, '2024-01-03 00:00:00+00'),
       (2, 30, '2024-01-01 00:00:00+00'), (2, 30, '2024-01-02 00:00:00+00'),
       (3, 20, '2024-01-01 00:00:00+00'), (3, 20, '2024-01-02 00:00:00+00')`,
    );
    login = await createLoginRole(db, 'sr_rls');
    ({ name: role, url: roleUrl } = login);
    r = pg.escapeIdentifier(role);
    path = files.write({ ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE });
    // Exactly what an administrator applies: the reconciler's schema, the archive, the grants.
    const sql = await runCli(['sql', '--jobs', path, '--role', role], {});
    expectCode(sql, 0);
    script = sql.stdout;
    await db.query(script);
    // A real policy that hides status 20 (B) from every role it applies to.
    await db.query(`
      ALTER TABLE public.object_status ENABLE ROW LEVEL SECURITY;
      CREATE POLICY hide_b ON public.object_status USING (status_id IS DISTINCT FROM 20)`);
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
    await login?.drop();
  });

  /** run as the role: exit 2, the message parts on stderr, and not a row changed anywhere. */
  async function expectRefused(parts: string[]): Promise<string> {
    const before = [await rowsOf(db, 'public.object_status'), await rowsOf(db, ARCHIVE)];
    const result = await runCli(['run', '--jobs', path], env(roleUrl));
    expectCode(result, 2);
    for (const part of parts) expect(result.stderr).toContain(part);
    expect([await rowsOf(db, 'public.object_status'), await rowsOf(db, ARCHIVE)]).toEqual(before);
    expect(await db.query('SELECT 1 FROM status_reconciler.run_history')).toEqual([]);
    return result.stderr;
  }

  it('the role sees A, A where the history is A, B, A: the hidden row is what a run would miss', async () => {
    const [seen] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM public.object_status WHERE object_id = 1`,
    );
    expect(seen?.n).toBe(3); // the test's own connection is a superuser, who sees every row
    const client = new pg.Client({ connectionString: roleUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ status: number }>(
        'SELECT status_id AS status FROM public.object_status WHERE object_id = 1 ORDER BY start_date',
      );
      expect(rows.map((row) => row.status)).toEqual([10, 10]);
    } finally {
      await client.end();
    }
  });

  it('check: ✗ naming the table, the role and the fix', async () => {
    const result = await runCli(['check', '--jobs', path], env(roleUrl));
    expectCode(result, 2);
    expect(result.stdout).toContain(
      `✗ row-level security is active on public.object_status for role "${role}": its policies decide which rows the role sees`,
    );
    expect(result.stdout).toContain('(even USING (true))');
    expect(fixLines(result.stdout)).toContain(`ALTER ROLE ${r} BYPASSRLS;`);
  });

  it('run: exit 2 with the same text, and nothing removed', async () => {
    const stderr = await expectRefused([
      `row-level security is active on public.object_status for role "${role}"`,
      'A, B, A with the B hidden reads A, A',
      `    ALTER ROLE ${r} BYPASSRLS;`,
      `-- or run the reconciler as the table's owner "`,
      'unless the table has FORCE ROW LEVEL SECURITY',
    ]);
    expect(stderr).toMatch(/^status-reconciler: .*\(job "object-status"\): row-level security/);
  });

  it('a policy that shows every row (USING (true)) is refused too: the catalog cannot prove it', async () => {
    await db.query(`CREATE POLICY everything ON public.object_status USING (true)`);
    try {
      await expectRefused(['row-level security is active on public.object_status', 'even USING (true)']);
    } finally {
      await db.query('DROP POLICY everything ON public.object_status');
    }
  });

  it('row-level security on the archive table: refused as well, naming it', async () => {
    await db.query(`
      ALTER TABLE public.object_status DISABLE ROW LEVEL SECURITY;
      ALTER TABLE ${ARCHIVE} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY everything ON ${ARCHIVE} USING (true)`);
    try {
      await expectRefused([
        `row-level security is active on the archive table ${ARCHIVE} for role "${role}"`,
        'a row a policy refuses fails the whole batch',
        `ALTER ROLE ${r} BYPASSRLS;`,
      ]);
    } finally {
      await db.query(`
        ALTER TABLE ${ARCHIVE} DISABLE ROW LEVEL SECURITY;
        ALTER TABLE public.object_status ENABLE ROW LEVEL SECURITY`);
    }
  });

  it('the role owning a table that forces row security: the fix is NO FORCE', async () => {
    await db.query(`
      ALTER TABLE public.object_status OWNER TO ${r};
      ALTER TABLE public.object_status FORCE ROW LEVEL SECURITY`);
    try {
      await expectRefused([
        `row-level security is active on public.object_status for role "${role}"`,
        '    ALTER TABLE "public"."object_status" NO FORCE ROW LEVEL SECURITY;',
      ]);
    } finally {
      await db.query(`
        ALTER TABLE public.object_status NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE public.object_status OWNER TO CURRENT_USER`);
      await db.query(script); // the grants, which went with the ownership
    }
  });

  it('with BYPASSRLS the role passes check, and run removes exactly the real duplicates', async () => {
    await db.query(`ALTER ROLE ${r} BYPASSRLS`);
    const checked = await runCli(['check', '--jobs', path], env(roleUrl));
    expectCode(checked, 0);
    expect(checked.stdout).not.toContain('row-level security');

    const result = await runCli(['run', '--jobs', path], env(roleUrl));
    expectCode(result, 0);
    const kept = await expectCollapsedShadow(db, 'object_status', ARCHIVE);
    expect(kept.size).toBe(5); // object 1 keeps A, B, A; objects 2 and 3 one row each
    const [archived] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ARCHIVE}`);
    expect(archived?.n).toBe(2);
  });
});

describe('types and archive tables that cannot work', () => {
  let db: TestDatabase;
  const files = jobFiles();
  const env = () => ({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' });

  beforeAll(async () => {
    db = await historyDatabase(
      'e2e_unfit_types',
      `(1, 10, '2024-01-01 00:00:00+00'), (1, 10, '2024-01-02 00:00:00+00'), (1, 20, '2024-01-03 00:00:00+00'),
       (1, 10, '2024-01-04 00:00:00+00'), (2, NULL, '2024-01-01 00:00:00+00'), (2, NULL, '2024-01-02 00:00:00+00')`,
    );
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
  });

  /** run: exit 2 with the message parts, no row changed, not even the reconciler's schema. */
  async function expectRefused(path: string, tables: string[], parts: string[], job?: string): Promise<void> {
    const before = await Promise.all(tables.map((t) => rowsOf(db, t)));
    const result = await runCli(['run', '--jobs', path, ...(job ? ['--job', job] : [])], env());
    expectCode(result, 2);
    for (const part of parts) expect(result.stderr).toContain(part);
    expect(await Promise.all(tables.map((t) => rowsOf(db, t)))).toEqual(before);
    expect(await schemaExists(db, 'status_reconciler')).toBe(false);
  }

  it('a json compare column: check ✗ and run exit 2 with the fix, which then works', async () => {
    await db.query(`
      CREATE TABLE public.doc_status (id bigserial PRIMARY KEY, object_id integer NOT NULL,
                                      doc json, start_date timestamptz NOT NULL);
      CREATE INDEX ON public.doc_status (object_id, start_date, id);
      CREATE INDEX ON public.doc_status USING brin (start_date);
      INSERT INTO public.doc_status (object_id, doc, start_date) VALUES
        (1, '{"s": 1}', '2024-01-01 00:00:00+00'), (1, '{"s": 1}', '2024-01-02 00:00:00+00'),
        (1, '{"s": 2}', '2024-01-03 00:00:00+00'), (1, '{"s": 1}', '2024-01-04 00:00:00+00')`);
    const path = files.write({ ...STANDARD_JOB, name: 'doc', table: 'public.doc_status', compare: ['doc'] });
    const message =
      'invalid "compare": column "doc" of public.doc_status has type json, which has no equality operator ' +
      '(no default btree or hash operator class for json)';
    const alter = 'ALTER TABLE "public"."doc_status" ALTER COLUMN "doc" TYPE jsonb USING "doc"::jsonb;';

    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 2);
    expect(checked.stdout).toContain(`✗ ${message}`);
    expect(checked.stdout).toContain('comparing a cast or an expression instead is not supported');
    expect(fixLines(checked.stdout)).toContain(alter);

    await expectRefused(path, ['public.doc_status'], [message, 'IS NOT DISTINCT FROM', `    ${alter}`]);

    await db.query(alter);
    expectCode(await runCli(['check', '--jobs', path], env()), 0);
    expectCode(await runCli(['run', '--jobs', path], env()), 0);
    const ids = await db.query<{ id: string }>('SELECT id::text AS id FROM public.doc_status ORDER BY id');
    expect(ids.map((r) => r.id)).toEqual(['1', '3', '4']);
    await db.query('DROP SCHEMA status_reconciler CASCADE');
  });

  it('arrays, domains and records of json, a json key, an unsortable tie-breaker: each named', async () => {
    await db.query(`
      CREATE DOMAIN public.doc AS json;
      CREATE TYPE public.pair AS (n integer, d json);
      CREATE TABLE public.odd_status (id bigserial PRIMARY KEY, object_id integer NOT NULL, k json,
                                      tags json[], d public.doc, p public.pair, x xid, good jsonb[],
                                      start_date timestamptz NOT NULL);
      CREATE INDEX ON public.odd_status (object_id, start_date, id);
      CREATE INDEX ON public.odd_status USING brin (start_date)`);
    const odd = { ...STANDARD_JOB, table: 'public.odd_status' };
    const path = files.write([
      { ...odd, name: 'tags', compare: ['tags', 'good'] },
      { ...odd, name: 'domain', compare: ['d'] },
      { ...odd, name: 'record', compare: ['p'] },
      { ...odd, name: 'key', key: ['k'], compare: ['good'] },
      { ...odd, name: 'tie', orderBy: ['start_date', 'x'], compare: ['good'] },
      { ...odd, name: 'fine', compare: ['good'] },
    ]);
    const result = await runCli(['check', '--jobs', path], env());
    expectCode(result, 2);
    const out = result.stdout;
    for (const line of [
      '✗ invalid "compare": column "tags" of public.odd_status has type json[], which has no equality operator (no default btree or hash operator class for json)',
      '      ALTER TABLE "public"."odd_status" ALTER COLUMN "tags" TYPE jsonb[] USING "tags"::jsonb[];',
      '✗ invalid "compare": column "d" of public.odd_status has type doc, which has no equality operator (no default btree or hash operator class for json)',
      '✗ invalid "compare": column "p" of public.odd_status has type pair, which has no equality operator (no default btree or hash operator class for json)',
      '✗ invalid "key": column "k" of public.odd_status has type json, which has no ordering, so PostgreSQL cannot sort it (no default btree operator class for json); the scan partitions each history by key',
      '✗ invalid "orderBy": column "x" of public.odd_status has type xid, which has no ordering, so PostgreSQL cannot sort it (no default btree operator class for xid)',
    ]) {
      expect(out).toContain(line);
    }
    expect(out).not.toContain('column "good"');
    expect(out).toMatch(/job "fine"[^\n]*\n( {2}[^\n]*\n)* {2}→ ready/);
    expect(out).toContain('not ready: job(s) "tags", "domain", "record", "key", "tie"; apply');

    const run = await runCli(['run', '--jobs', path, '--job', 'tie'], env());
    expectCode(run, 2);
    expect(run.stderr).toContain('invalid "orderBy": column "x"');
  });

  it('an archive table with an extra NOT NULL column: check ✗ and run exit 2 naming it, then the fix works', async () => {
    await db.query(`
      CREATE TABLE ${ARCHIVE} (LIKE public.object_status, archived_at timestamptz NOT NULL DEFAULT now(),
                               repeated_id bigint, note text NOT NULL, filled text NOT NULL DEFAULT 'x')`);
    const path = files.write({ ...STANDARD_JOB, mode: 'archive', archiveTable: ARCHIVE });
    const message =
      `invalid "archiveTable": column "note" of ${ARCHIVE} is NOT NULL without a default, and the ` +
      'reconciler does not fill it';
    const drop = `ALTER TABLE "public"."object_status_archive" ALTER COLUMN "note" DROP NOT NULL;`;

    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 2);
    expect(checked.stdout).toContain(`✗ ${message}`);
    expect(checked.stdout).not.toContain('column "filled"');
    expect(fixLines(checked.stdout)).toEqual(
      expect.arrayContaining([
        drop,
        `-- or give it a default: ALTER TABLE "public"."object_status_archive" ALTER COLUMN "note" SET DEFAULT ...;`,
      ]),
    );

    await expectRefused(path, ['public.object_status', ARCHIVE], [message, `    ${drop}`]);

    await db.query(drop);
    expectCode(await runCli(['run', '--jobs', path], env()), 0);
    await expectCollapsedShadow(db, 'object_status', ARCHIVE);
    await db.query(`DROP TABLE ${ARCHIVE}; DROP SCHEMA status_reconciler CASCADE`);
  });

  it('an extra column of a NOT NULL domain, and a NOT NULL column the history leaves NULL: ✗, exit 2, then the fix works', async () => {
    // Object 7 has a real NULL duplicate: its status_id is what the archive's NOT NULL refuses.
    await db.query(`
      INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
        (7, NULL, '2024-03-01 00:00:00+00'), (7, NULL, '2024-03-02 00:00:00+00');
      CREATE DOMAIN public.nn_int AS integer NOT NULL;
      CREATE DOMAIN public.nn_int_too AS public.nn_int;
      CREATE TABLE public.domain_archive (LIKE public.object_status, archived_at timestamptz NOT NULL DEFAULT now(),
                                          repeated_id bigint, tenant public.nn_int_too, kept public.nn_int DEFAULT 1);
      CREATE TABLE public.strict_archive (LIKE public.object_status, archived_at timestamptz NOT NULL DEFAULT now(),
                                          repeated_id bigint);
      ALTER TABLE public.strict_archive ALTER COLUMN status_id SET NOT NULL`);
    const path = files.write([
      { ...STANDARD_JOB, name: 'domain', mode: 'archive', archiveTable: 'public.domain_archive' },
      { ...STANDARD_JOB, name: 'strict', mode: 'archive', archiveTable: 'public.strict_archive' },
    ]);
    const domain =
      'invalid "archiveTable": column "tenant" of public.domain_archive has type nn_int_too, over the domain ' +
      'nn_int, which is NOT NULL, without a default, and the reconciler does not fill it';
    const retype = 'ALTER TABLE "public"."domain_archive" ALTER COLUMN "tenant" TYPE integer;';
    const strict =
      'invalid "archiveTable": column "status_id" of public.strict_archive is NOT NULL, but the reconciler fills it ' +
      'with column "status_id" of public.object_status, which can be NULL: an archived duplicate whose value is ' +
      'NULL would be refused, and its batch with it';
    const drop = 'ALTER TABLE "public"."strict_archive" ALTER COLUMN "status_id" DROP NOT NULL;';

    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 2);
    expect(checked.stdout).toContain(`✗ ${domain}`);
    expect(checked.stdout).toContain(`✗ ${strict}`);
    expect(checked.stdout).not.toContain('column "kept"'); // a domain default fills it
    expect(fixLines(checked.stdout)).toEqual(
      expect.arrayContaining([
        retype,
        '-- or, for every column of that type: ALTER DOMAIN nn_int DROP NOT NULL;',
        drop,
        '-- or, if it never is NULL there: ALTER TABLE "public"."object_status" ALTER COLUMN "status_id" SET NOT NULL;',
      ]),
    );

    const tables = ['public.object_status', 'public.domain_archive', 'public.strict_archive'];
    await expectRefused(path, tables, [domain, `    ${retype}`], 'domain');
    await expectRefused(path, tables, [strict, `    ${drop}`], 'strict');

    await db.query(`${retype} ${drop}`);
    expectCode(await runCli(['check', '--jobs', path], env()), 0);
    expectCode(await runCli(['run', '--jobs', path, '--job', 'strict'], env()), 0);
    await expectCollapsedShadow(db); // earlier duplicates went to another archive, since dropped
    const nulls = await db.query(
      'SELECT 1 FROM public.strict_archive WHERE object_id = 7 AND status_id IS NULL',
    );
    expect(nulls).toHaveLength(1); // the NULL duplicate of object 7, archived
    await db.query(`DROP TABLE public.domain_archive, public.strict_archive; DROP DOMAIN public.nn_int CASCADE;
      DROP SCHEMA status_reconciler CASCADE`);
  });

  it('a CHECK constraint or a partitioning without DEFAULT on the archive: ! naming it; the run goes on', async () => {
    await db.query(`
      INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
        (8, NULL, '2024-03-01 00:00:00+00'), (8, NULL, '2024-03-02 00:00:00+00');
      CREATE TABLE public.checked_archive (LIKE public.object_status, archived_at timestamptz NOT NULL DEFAULT now(),
                                           repeated_id bigint, CONSTRAINT known_status CHECK (status_id IS NOT NULL));
      CREATE TABLE public.parted_archive (LIKE public.object_status, archived_at timestamptz NOT NULL DEFAULT now(),
                                          repeated_id bigint) PARTITION BY RANGE (start_date);
      CREATE TABLE public.parted_archive_2100 PARTITION OF public.parted_archive
        FOR VALUES FROM ('2100-01-01') TO ('2200-01-01')`);
    const path = files.write([
      { ...STANDARD_JOB, name: 'checked', mode: 'archive', archiveTable: 'public.checked_archive' },
      { ...STANDARD_JOB, name: 'parted', mode: 'archive', archiveTable: 'public.parted_archive' },
    ]);
    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 0); // cautions: every job is ready
    for (const line of [
      '! public.checked_archive has CHECK constraint "known_status" (CHECK ((status_id IS NOT NULL))): an archived ' +
        'duplicate that fails it fails its batch (rolled back, nothing of it removed), and the run with it',
      '      -- if archived rows need not pass it: ALTER TABLE "public"."checked_archive" DROP CONSTRAINT "known_status";',
      '! public.parted_archive is partitioned (RANGE (start_date)) without a DEFAULT partition: an archived ' +
        'duplicate that no partition takes fails its batch (rolled back, nothing of it removed), and the run with it',
      '      CREATE TABLE "public"."parted_archive_default" PARTITION OF "public"."parted_archive" DEFAULT;',
    ]) {
      expect(checked.stdout).toContain(line);
    }

    // run goes on: what the ! said happens (a NULL duplicate fails the CHECK), and nothing is lost.
    const failed = await runCli(['run', '--jobs', path, '--job', 'checked'], env());
    expectCode(failed, 1);
    expect(failed.stderr).toContain('violates check constraint "known_status"');
    await db.query('ALTER TABLE public.checked_archive DROP CONSTRAINT known_status');
    expectCode(await runCli(['run', '--jobs', path, '--job', 'checked'], env()), 0);
    await expectCollapsedShadow(db);
    expect(await db.query('SELECT 1 FROM public.checked_archive WHERE object_id = 8')).toHaveLength(1);

    await db.query('CREATE TABLE public.parted_archive_default PARTITION OF public.parted_archive DEFAULT');
    const fixed = await runCli(['check', '--jobs', path, '--job', 'parted'], env());
    expectCode(fixed, 0);
    expect(fixed.stdout).not.toContain('is partitioned');
    await db.query(
      `DROP TABLE public.checked_archive, public.parted_archive; DROP SCHEMA status_reconciler CASCADE`,
    );
  });

  it('archive columns of another type: none assignable is ✗, a cast one is !', async () => {
    await db.query(`
      INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
        (5, 50, '2024-02-01 00:00:00+00'), (5, 50, '2024-02-02 00:00:00+00');
      CREATE TABLE public.typed_archive (id bigint, object_id integer, status_id bigint,
                                         start_date timestamptz, archived_at json, repeated_id bigint);
      CREATE TABLE public.identity_archive (id bigint GENERATED ALWAYS AS IDENTITY, object_id integer,
                                            status_id integer, start_date timestamptz,
                                            archived_at timestamptz, repeated_id bigint)`);
    const path = files.write([
      { ...STANDARD_JOB, name: 'typed', mode: 'archive', archiveTable: 'public.typed_archive' },
      { ...STANDARD_JOB, name: 'identity', mode: 'archive', archiveTable: 'public.identity_archive' },
    ]);
    const checked = await runCli(['check', '--jobs', path], env());
    expectCode(checked, 2);
    const mismatch =
      'invalid "archiveTable": column "archived_at" of public.typed_archive has type json, but the reconciler ' +
      'fills it with now(), of type timestamp with time zone, and PostgreSQL cannot assign one to the other';
    for (const line of [
      `✗ ${mismatch}`,
      '      ALTER TABLE "public"."typed_archive" ALTER COLUMN "archived_at" TYPE timestamp with time zone;',
      '! column "status_id" of public.typed_archive has type bigint, while it is filled with column "status_id" of public.object_status, of type integer',
      '      ALTER TABLE "public"."typed_archive" ALTER COLUMN "status_id" TYPE integer;',
      '✗ invalid "archiveTable": column "id" of public.identity_archive is GENERATED ALWAYS AS IDENTITY',
      '      ALTER TABLE "public"."identity_archive" ALTER COLUMN "id" DROP IDENTITY;',
    ]) {
      expect(checked.stdout).toContain(line);
    }

    const tables = ['public.object_status', 'public.typed_archive', 'public.identity_archive'];
    // run stops at the first job it refuses, before anything changes.
    await expectRefused(path, tables, [mismatch]);
    await expectRefused(
      path,
      tables,
      ['column "id" of public.identity_archive is GENERATED ALWAYS'],
      'identity',
    );

    // The fix of the ✗ alone: the ! is a warning, and the run archives through the cast.
    await db.query('ALTER TABLE public.typed_archive ALTER COLUMN archived_at TYPE timestamptz USING now()');
    const fixed = await runCli(['check', '--jobs', path, '--job', 'typed'], env());
    expectCode(fixed, 0);
    expect(fixed.stdout).toContain('! column "status_id" of public.typed_archive has type bigint');
    expectCode(await runCli(['run', '--jobs', path, '--job', 'typed'], env()), 0);
    await expectCollapsedShadow(db);
    const [second] = await db.query<{ id: string }>(
      `SELECT max(id)::text AS id FROM public.object_status_shadow WHERE object_id = 5`,
    );
    const archived = await db.query<{ id: string; status: string }>(
      'SELECT id::text AS id, status_id::text AS status FROM public.typed_archive',
    );
    expect(archived).toEqual([{ id: second?.id, status: '50' }]);
  });
});
