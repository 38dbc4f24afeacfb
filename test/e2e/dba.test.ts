/*
 * The DBA's view through the real CLI: `check` against a live database, and `sql`, whose
 * output an administrator applies. The proof that `sql`'s grants are enough is a role that
 * had nothing, then passes `check` and runs a job with exactly those grants; the proof that
 * `check`'s CREATE INDEX statements are right is running them and checking again.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseJob } from '../../src/config/job.js';
import type { JobPlan } from '../../src/db/plan.js';
import {
  makesTieBreakerUnique,
  servesIncremental,
  servesScan,
  type IndexInfo,
} from '../../src/dba/indexes.js';
import { fitName } from '../../src/dba/names.js';
import { logLines, runCli, writeJobFile } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  collapse,
  createHistoryTable,
  historyRowsSql,
  STANDARD_JOB,
  type HistoryRow,
} from '../helpers/history.js';

/** Every schema and relation (with its kind), and the history's rows: what a write would change. */
async function fingerprint(db: TestDatabase): Promise<string> {
  const [row] = await db.query<{ fp: string }>(
    `SELECT (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_catalog.pg_namespace) || '|' ||
            (SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' ORDER BY 1)
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')) || '|' ||
            (SELECT count(*) || ':' || coalesce(sum(id), 0) FROM public.object_status) AS fp`,
  );
  return row?.fp ?? '';
}

async function schemaExists(db: TestDatabase, schema: string): Promise<boolean> {
  return (await db.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [schema])).length > 0;
}

/** A small deterministic PRNG (mulberry32), so a failing history can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Histories full of what makes collapsing hard: runs of equal statuses, NULL statuses
 * (equal to each other), equal timestamps within one object (ordered by id), statuses that
 * come back after another one. All in 2024, so every row is settled.
 */
async function seedRandomHistory(db: TestDatabase, table: string, seed: number): Promise<void> {
  const next = random(seed);
  const values: string[] = [];
  for (let i = 0; i < 600; i++) {
    const object = Math.floor(next() * 40);
    const r = next();
    const status = r < 0.15 ? 'NULL' : String(1 + Math.floor(r * 3));
    const second = Math.floor(next() * 60);
    values.push(
      `(${object}, ${status}, timestamptz '2024-01-01 00:00:00+00' + interval '${second} seconds')`,
    );
  }
  await db.query(`INSERT INTO ${table} (object_id, status_id, start_date) VALUES ${values.join(', ')}`);
}

/** The current row of each object by the oracle's order: greatest (at, id). */
function currentIds(rows: HistoryRow[]): Set<string> {
  const last = new Map<string, HistoryRow>();
  const later = (a: HistoryRow, b: HistoryRow): boolean =>
    BigInt(a.at) > BigInt(b.at) || (a.at === b.at && BigInt(a.id) > BigInt(b.id));
  for (const row of rows) {
    const seen = last.get(row.key);
    if (!seen || later(row, seen)) last.set(row.key, row);
  }
  return new Set([...last.values()].map((r) => r.id));
}

const ORDER_STATUS_ROWS = `SELECT "Id"::text AS id, "OrderId"::text AS key, "Status" AS status,
  (extract(epoch FROM "ChangedAt") * 1000000)::bigint::text AS at FROM "Sales"."OrderStatus"`;

async function ids(db: TestDatabase, sql: string): Promise<Set<string>> {
  return new Set((await db.query<{ id: string }>(sql)).map((r) => r.id));
}

function checkEnv(url: string): Record<string, string> {
  return { DATABASE_URL: url, LOG_LEVEL: 'warn' };
}

describe('check', () => {
  let db: TestDatabase;
  const files: (() => void)[] = [];
  const jobFile = (jobs: unknown): string => {
    const { path, cleanup } = writeJobFile(jobs);
    files.push(cleanup);
    return path;
  };

  beforeAll(async () => {
    db = await createTestDatabase('e2e_dba_check');
    await createHistoryTable(db);
    await seedRandomHistory(db, 'public.object_status', 1);
  });
  afterAll(async () => {
    for (const cleanup of files) cleanup();
    await db?.drop();
  });

  it('a ready job: exit 0, every line ✓, and nothing changed (not even the reconciler schema)', async () => {
    await db.query(
      'CREATE INDEX object_status_start_date_brin ON public.object_status USING brin (start_date)',
    );
    const path = jobFile({ ...STANDARD_JOB, mode: 'archive', archiveTable: 'public.object_status_archive' });
    const before = await fingerprint(db);

    const result = await runCli(['check', '--jobs', path], checkEnv(db.url));

    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/[✗!] /);
    for (const line of [
      'job "object-status": public.object_status, archive mode into public.object_status_archive',
      '✓ index for the scan and the re-verification, on (object_id, start_date, id): object_status_object_id_start_date_id_idx',
      '✓ index for incremental runs, on start_date: object_status_start_date_brin (brin on start_date)',
      '✓ tie-breaker id is unique: object_status_pkey',
      '✓ schema status_reconciler does not exist yet; the first run creates it',
      '✓ create the archive table public.object_status_archive on the first run',
      '→ ready',
      'ready: 1 job(s) can run as role "',
    ]) {
      expect(result.stdout).toContain(line);
    }
    expect(await fingerprint(db)).toBe(before);
    expect(await schemaExists(db, 'status_reconciler')).toBe(false);
  });

  it('missing indexes: exit 2 with CREATE INDEX statements that, once run, make the job ready', async () => {
    // No index at all, and an id nothing makes unique.
    await db.query(`CREATE TABLE public.bare_status AS SELECT * FROM public.object_status`);
    const path = jobFile({ ...STANDARD_JOB, name: 'bare', table: 'public.bare_status' });
    const before = await fingerprint(db);

    const first = await runCli(['check', '--jobs', path], checkEnv(db.url));
    expect(first.code, first.stdout + first.stderr).toBe(2);
    const creates = first.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('CREATE '));
    expect(creates).toEqual([
      'CREATE INDEX CONCURRENTLY "bare_status_object_id_start_date_id_idx" ON "public"."bare_status" ("object_id", "start_date", "id");',
      'CREATE INDEX CONCURRENTLY "bare_status_start_date_brin" ON "public"."bare_status" USING brin ("start_date");',
      'CREATE UNIQUE INDEX CONCURRENTLY "bare_status_id_key" ON "public"."bare_status" ("id");',
    ]);
    // Without the btree runs work (slower): advice; without the BRIN incremental passes read everything.
    expect(first.stdout).toContain('! no index for the scan and the re-verification');
    expect(first.stdout).toContain('✗ no index for incremental runs');
    expect(first.stdout).toContain('! tie-breaker id is not known to be unique');
    expect(first.stdout).toContain('not ready: job(s) "bare"');
    expect(await fingerprint(db)).toBe(before);

    // run says the same at its start (a warning: it still runs), with the same fix.
    const dry = await runCli(['run', '--jobs', path, '--dry-run'], checkEnv(db.url));
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    const warnings = logLines(dry.stdout).filter((l) => l.level === 40);
    expect(warnings.map((l) => l.msg)).toEqual(
      expect.arrayContaining([expect.stringContaining('no index for incremental runs')]),
    );
    expect(warnings.map((l) => String(l.fix))).toEqual(expect.arrayContaining([creates[1]]));
    expect(await fingerprint(db)).toBe(before);

    // The two required indexes: ready, and the warning alone does not make it not ready.
    for (const statement of creates.slice(0, 2)) await db.query(statement);
    const second = await runCli(['check', '--jobs', path], checkEnv(db.url));
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toContain('! tie-breaker id is not known to be unique');

    await db.query(creates[2] as string);
    const third = await runCli(['check', '--jobs', path], checkEnv(db.url));
    expect(third.code, third.stdout).toBe(0);
    expect(third.stdout).toContain('✓ tie-breaker id is unique: bare_status_id_key');
    expect(third.stdout).not.toMatch(/[✗!] /);
  });

  it('a primary key and a BRIN only: ready, with the (key, orderBy) index as advice and why', async () => {
    await db.query(`CREATE TABLE public.pk_status (LIKE public.object_status);
      ALTER TABLE public.pk_status ADD PRIMARY KEY (id);
      CREATE INDEX ON public.pk_status USING brin (start_date);`);
    const path = jobFile({ ...STANDARD_JOB, name: 'pk', table: 'public.pk_status' });
    const result = await runCli(['check', '--jobs', path], checkEnv(db.url));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(
      '! no index for the scan and the re-verification, on (object_id, start_date, id): runs work without it',
    );
    expect(result.stdout).toContain(
      'each batch re-reads the histories of its objects in one pass over the table',
    );
    expect(result.stdout).toContain(
      'CREATE INDEX CONCURRENTLY "pk_status_object_id_start_date_id_idx" ON "public"."pk_status" ("object_id", "start_date", "id");',
    );
    expect(result.stdout).not.toMatch(/✗ /);
  });

  it('a job the catalog refuses is not ready with its message; the other jobs are still checked', async () => {
    const path = jobFile([
      { ...STANDARD_JOB, name: 'missing', table: 'public.no_such_table' },
      { ...STANDARD_JOB, name: 'wrong-column', compare: ['status'] },
      STANDARD_JOB,
    ]);
    const result = await runCli(['check', '--jobs', path], checkEnv(db.url));
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toContain('✗ ');
    expect(result.stdout).toContain('public.no_such_table does not exist');
    expect(result.stdout).toContain('column "status" does not exist');
    expect(result.stdout).toMatch(/job "object-status"[^\n]*\n( {2}[^\n]*\n)* {2}→ ready/);
    expect(result.stdout).toContain('not ready: job(s) "missing", "wrong-column"');
  });

  it('local times and dates: a zone whose clocks go back is a warning with its fix; UTC and a date are ✓', async () => {
    for (const [table, type] of [
      ['paris_status', 'timestamp(3)'],
      ['utc_status', 'timestamp'],
      ['day_status', 'date'],
    ]) {
      await db.query(`
        CREATE TABLE public.${table} (id bigserial PRIMARY KEY, object_id integer NOT NULL,
                                      status_id integer, start_date ${type} NOT NULL);
        CREATE INDEX ON public.${table} (object_id, start_date, id);
        CREATE INDEX ON public.${table} USING brin (start_date);`);
    }
    await db.query(`INSERT INTO public.paris_status (object_id, status_id, start_date)
                    VALUES (1, 1, '2024-07-01 12:00:00')`);
    const local = { ...STANDARD_JOB, settleSeconds: 30 };
    const path = jobFile([
      { ...local, name: 'paris', table: 'public.paris_status', timeZone: 'Europe/Paris' },
      { ...local, name: 'utc', table: 'public.utc_status', timeZone: 'UTC' },
      { ...local, name: 'day', table: 'public.day_status' },
    ]);

    const result = await runCli(['check', '--jobs', path], checkEnv(db.url));

    // A warning leaves every job ready.
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const out = result.stdout;
    // Europe/Paris goes back one hour on the last Sunday of October, at 01:00 UTC: one a year.
    expect(out).toMatch(
      /! start_date \(timestamp\(3\) without time zone\) holds local times of Europe\/Paris \(the job's "timeZone"\), whose clocks go back within the next year: local times repeat for 1 h at (\d{4}-10-\d\d) 01:00 UTC \(\1 02:00 to 03:00 local\)\. Rows written in a repeated time sort out of their real order, and the horizon stays up to about 1 h behind/,
    );
    expect(out).toContain(
      'settleSeconds (30 s) is below the largest backward shift (1 h): it does not cover the repeat by itself',
    );
    const alter =
      'ALTER TABLE "public"."paris_status" ALTER COLUMN "start_date" TYPE timestamptz(3) USING "start_date" AT TIME ZONE \'Europe/Paris\';';
    expect(out).toContain(`      ${alter}\n`);
    expect(out).toContain(
      '✓ start_date (timestamp without time zone) holds local times of UTC (the job\'s "timeZone"): its clocks do not go back within the next year',
    );
    expect(out).toContain(
      '✓ start_date (date): the horizon is the date in UTC-14 (the earliest date of any real zone, even with its sign mistyped) of the UTC horizon',
    );
    expect(out).toContain('ready: 3 job(s) can run as role "');

    // The fix, applied, keeps each moment and leaves nothing to warn about.
    await db.query(alter);
    const [row] = await db.query<{ at: string }>(
      `SELECT to_char(start_date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS at FROM public.paris_status`,
    );
    expect(row?.at).toBe('2024-07-01 10:00');
    const fixed = await runCli(['check', '--jobs', path, '--job', 'paris'], checkEnv(db.url));
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    expect(fixed.stdout).not.toMatch(/[✗!] /);
  });

  it('an unreachable database: exit 1', async () => {
    const path = jobFile(STANDARD_JOB);
    const result = await runCli(['check', '--jobs', path], checkEnv('postgres://u:pw@127.0.0.1:1/x'));
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('127.0.0.1:1');
  });
});

describe('sql, applied by an administrator, is exactly what a least-privilege role needs', () => {
  let db: TestDatabase;
  let roleUrl: string;
  let script: string;
  let path: string;
  let cleanup: () => void = () => undefined;
  const role = `sr_dba_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let expectedObjects: Set<string>;
  let expectedOrders: Set<string>;
  let allObjects: Set<string>;

  beforeAll(async () => {
    db = await createTestDatabase('e2e_dba_sql');
    await createHistoryTable(db);
    await db.query('CREATE INDEX ON public.object_status USING brin (start_date)');
    await seedRandomHistory(db, 'public.object_status', 2);
    // A second job in a schema of its own with names that need quoting, in delete mode.
    await db.query(`
      CREATE SCHEMA "Sales";
      CREATE TABLE "Sales"."OrderStatus" (
        "Id" bigserial PRIMARY KEY, "OrderId" integer NOT NULL, "Status" text,
        "ChangedAt" timestamptz NOT NULL);
      CREATE INDEX ON "Sales"."OrderStatus" ("OrderId", "ChangedAt", "Id");
      CREATE INDEX ON "Sales"."OrderStatus" USING brin ("ChangedAt");
      INSERT INTO "Sales"."OrderStatus" ("OrderId", "Status", "ChangedAt") VALUES
        (1, 'new', '2024-01-01 00:00:00+00'), (1, 'new', '2024-01-01 00:00:00+00'),
        (1, 'paid', '2024-01-02 00:00:00+00'), (1, 'new', '2024-01-03 00:00:00+00'),
        (2, NULL, '2024-01-01 00:00:00+00'), (2, NULL, '2024-01-02 00:00:00+00'),
        (3, 'paid', '2024-01-01 00:00:00+00');`);
    await db.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD '${password}'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    roleUrl = url.toString();
    ({ path, cleanup } = writeJobFile([
      { ...STANDARD_JOB, mode: 'archive', archiveTable: 'public.object_status_archive' },
      {
        name: 'order-status',
        table: 'Sales.OrderStatus',
        key: ['OrderId'],
        orderBy: ['ChangedAt', 'Id'],
        compare: ['Status'],
        settleSeconds: 0,
      },
    ]));
    const rows = await db.query<HistoryRow>(historyRowsSql('public.object_status'));
    allObjects = new Set(rows.map((r) => r.id));
    expectedObjects = collapse(rows);
    expectedOrders = collapse(await db.query<HistoryRow>(ORDER_STATUS_ROWS));
  });
  afterAll(async () => {
    cleanup();
    await db?.drop();
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
    try {
      await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
    } finally {
      await admin.end();
    }
  });

  it('sql prints the script from the job files alone: no database is reached', async () => {
    // No DATABASE_URL, and libpq's variables pointing at a closed port.
    const result = await runCli(['sql', '--jobs', path, '--role', role], {
      PGHOST: '127.0.0.1',
      PGPORT: '1',
    });
    expect(result.code, result.stderr).toBe(0);
    script = result.stdout;
    expect(script).toMatch(/^-- status-reconciler sql/);
    expect(script.trimEnd()).toMatch(/COMMIT;$/);
    expect(script).toContain(
      `GRANT SELECT, DELETE, UPDATE ("id") ON TABLE "public"."object_status" TO "${role}";`,
    );
    expect(script).toContain(`GRANT SELECT, INSERT ON TABLE "public"."object_status_archive" TO "${role}";`);
    expect(script).toContain(`GRANT USAGE ON SCHEMA "Sales" TO "${role}";`);
    expect(script).toContain('CREATE OR REPLACE VIEW "Sales"."OrderStatus_collapsed" AS');
  });

  it('a role without privileges: check exits 2 naming each missing grant, and changes nothing', async () => {
    const before = await fingerprint(db);
    const result = await runCli(['check', '--jobs', path], checkEnv(roleUrl));
    expect(result.code, result.stdout + result.stderr).toBe(2);
    const r = `"${role}"`;
    for (const fix of [
      `GRANT pg_read_all_stats TO ${r};`,
      `GRANT CREATE ON DATABASE "${db.name}" TO ${r};`,
      `GRANT SELECT, DELETE, UPDATE ("id") ON TABLE "public"."object_status" TO ${r};`,
      `GRANT CREATE ON SCHEMA "public" TO ${r};`,
      `GRANT USAGE ON SCHEMA "Sales" TO ${r};`,
      `GRANT SELECT, DELETE, UPDATE ("Id") ON TABLE "Sales"."OrderStatus" TO ${r};`,
      `status-reconciler sql --jobs ${path} --role ${role}`,
    ]) {
      expect(result.stdout).toContain(fix);
    }
    expect(result.stdout).toContain(`! role ${r} cannot see other roles' transactions`);
    expect(result.stdout).toContain('not ready: the database setup (every job needs it) and job(s)');
    expect(await fingerprint(db)).toBe(before);
    expect(await schemaExists(db, 'status_reconciler')).toBe(false);
  });

  it('applied by a superuser, its views are right before any run', async () => {
    await db.query(script);
    const rows = await db.query<HistoryRow>(historyRowsSql('public.object_status'));
    expect(rows.length).toBeGreaterThan(expectedObjects.size); // there are duplicates to hide
    expect(await ids(db, 'SELECT id::text AS id FROM public.object_status_collapsed')).toEqual(
      expectedObjects,
    );
    expect(await ids(db, 'SELECT id::text AS id FROM public.object_status_current')).toEqual(
      currentIds(rows),
    );
    // A reader's filter on the key gives that object's collapsed history, in order.
    const one = await db.query<{ id: string }>(
      'SELECT id::text AS id FROM public.object_status_collapsed WHERE object_id = 7 ORDER BY start_date, id',
    );
    const oracleOne = rows
      .filter((r) => r.key === '7' && expectedObjects.has(r.id))
      .sort((a, b) => Number(BigInt(a.at) - BigInt(b.at)) || Number(BigInt(a.id) - BigInt(b.id)))
      .map((r) => r.id);
    expect(one.map((r) => r.id)).toEqual(oracleOne);

    const orders = await db.query<HistoryRow>(ORDER_STATUS_ROWS);
    expect(await ids(db, `SELECT "Id"::text AS id FROM "Sales"."OrderStatus_collapsed"`)).toEqual(
      expectedOrders,
    );
    expect(expectedOrders).toEqual(new Set(['1', '3', '4', '5', '7']));
    expect(await ids(db, `SELECT "Id"::text AS id FROM "Sales"."OrderStatus_current"`)).toEqual(
      currentIds(orders),
    );
  });

  it('with those grants alone the role passes check and runs both jobs', async () => {
    const checked = await runCli(['check', '--jobs', path], checkEnv(roleUrl));
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout).not.toMatch(/[✗!] /);
    expect(checked.stdout).toContain(`ready: 2 job(s) can run as role "${role}"`);

    const run = await runCli(['run', '--jobs', path], checkEnv(roleUrl));
    expect(run.code, run.stdout + run.stderr).toBe(0);

    expect(await ids(db, 'SELECT id::text AS id FROM public.object_status')).toEqual(expectedObjects);
    const archived = await ids(db, 'SELECT id::text AS id FROM public.object_status_archive');
    expect(archived).toEqual(new Set([...allObjects].filter((id) => !expectedObjects.has(id))));
    expect(await ids(db, `SELECT "Id"::text AS id FROM "Sales"."OrderStatus"`)).toEqual(expectedOrders);
    const [owner] = await db.query<{ owner: string }>(
      `SELECT tableowner AS owner FROM pg_catalog.pg_tables WHERE tablename = 'object_status_archive'`,
    );
    expect(owner?.owner).not.toBe(role); // the DDL made it, not the role's first run
    const runs = await db.query<{ job: string; outcome: string }>(
      'SELECT job, outcome FROM status_reconciler.run_history ORDER BY job',
    );
    expect(runs).toEqual([
      { job: 'object-status', outcome: 'success' },
      { job: 'order-status', outcome: 'success' },
    ]);
  });

  it('a grant taken away, or a migration not applied, is named; applying the script again restores it', async () => {
    const r = pg.escapeIdentifier(role);
    await db.query(`REVOKE USAGE ON SCHEMA status_reconciler FROM ${r}`);
    await db.query(`REVOKE DELETE ON "Sales"."OrderStatus" FROM ${r}`);
    const revoked = await runCli(['check', '--jobs', path], checkEnv(roleUrl));
    expect(revoked.code, revoked.stdout + revoked.stderr).toBe(2);
    expect(revoked.stdout).toContain(`GRANT USAGE ON SCHEMA "status_reconciler" TO ${r};`);
    expect(revoked.stdout).toContain(`GRANT DELETE ON TABLE "Sales"."OrderStatus" TO ${r};`);
    expect(revoked.stdout).toContain(
      'not ready: the database setup (every job needs it) and job(s) "order-status"',
    );

    // As after an upgrade that brings a migration the role may not apply itself.
    await db.query(script);
    const [latest] = await db.query<{ id: number }>('SELECT max(id) AS id FROM status_reconciler.migrations');
    await db.query('DELETE FROM status_reconciler.migrations WHERE id = $1', [latest?.id]);
    try {
      const pending = await runCli(['check', '--jobs', path], checkEnv(roleUrl));
      expect(pending.code, pending.stdout + pending.stderr).toBe(2);
      expect(pending.stdout).toMatch(/✗ schema status_reconciler lacks migration\(s\) \d{6}\.sql, and role/);
      expect(pending.stdout).toContain(
        `-- apply the output of \`status-reconciler sql --jobs ${path} --role ${role}\``,
      );
    } finally {
      await db.query('INSERT INTO status_reconciler.migrations (id) VALUES ($1)', [latest?.id]);
    }
    const restored = await runCli(['check', '--jobs', path], checkEnv(roleUrl));
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
  });

  it('the views agree after the run, and the script can be applied again', async () => {
    await db.query(script);
    expect(await ids(db, 'SELECT id::text AS id FROM public.object_status_collapsed')).toEqual(
      expectedObjects,
    );
    const rows = await db.query<HistoryRow>(historyRowsSql('public.object_status'));
    expect(await ids(db, 'SELECT id::text AS id FROM public.object_status_current')).toEqual(
      currentIds(rows),
    );
    const second = await runCli(['run', '--jobs', path], checkEnv(roleUrl));
    expect(second.code, second.stdout + second.stderr).toBe(0);
  });
});

describe('index matching', () => {
  const plan = {
    job: parseJob({ ...STANDARD_JOB, key: ['tenant', 'object_id'] }, 'test'),
  } as unknown as JobPlan;
  const index = (fields: Partial<IndexInfo>): IndexInfo => ({
    name: 'i',
    method: 'btree',
    unique: false,
    partial: false,
    valid: true,
    columns: [],
    descending: [],
    ...fields,
  });

  it('the scan index: key columns in any order, then orderBy in order and one direction', () => {
    const scan = (columns: string[], descending = columns.map(() => false), method = 'btree'): boolean =>
      servesScan(plan, index({ columns, descending, method }));
    expect(scan(['tenant', 'object_id', 'start_date', 'id'])).toBe(true);
    expect(scan(['object_id', 'tenant', 'start_date', 'id', 'status_id'])).toBe(true);
    expect(scan(['tenant', 'object_id', 'start_date', 'id'], [false, false, true, true])).toBe(true);
    expect(scan(['tenant', 'object_id', 'start_date', 'id'], [false, false, true, false])).toBe(false);
    expect(scan(['tenant', 'object_id', 'id', 'start_date'])).toBe(false);
    expect(scan(['tenant', 'object_id', 'start_date'])).toBe(false);
    expect(scan(['object_id', 'start_date', 'id'])).toBe(false);
    expect(scan(['tenant', 'object_id', 'start_date', 'id'], undefined, 'hash')).toBe(false);
  });

  it('the incremental index: a btree led by the first orderBy column, or a BRIN holding it', () => {
    expect(servesIncremental(plan, index({ columns: ['start_date', 'id'] }))).toBe(true);
    expect(servesIncremental(plan, index({ columns: ['id', 'start_date'] }))).toBe(false);
    expect(servesIncremental(plan, index({ method: 'brin', columns: ['id', 'start_date'] }))).toBe(true);
    expect(servesIncremental(plan, index({ method: 'gist', columns: ['start_date'] }))).toBe(false);
  });

  it('the tie-breaker: a unique index on it alone or with key columns, nothing else', () => {
    const unique = (columns: (string | null)[]): boolean =>
      makesTieBreakerUnique(plan, index({ unique: true, columns }));
    expect(unique(['id'])).toBe(true);
    expect(unique(['tenant', 'id'])).toBe(true);
    expect(unique(['start_date', 'id'])).toBe(false);
    expect(unique(['tenant'])).toBe(false);
    expect(unique([null, 'id'])).toBe(false);
    expect(makesTieBreakerUnique(plan, index({ columns: ['id'] }))).toBe(false);
  });

  it('names fit in 63 bytes and stay distinct', () => {
    const long = 'a'.repeat(60);
    const current = fitName(long, '_current');
    const collapsed = fitName(long, '_collapsed');
    expect(Buffer.byteLength(current)).toBeLessThanOrEqual(63);
    expect(Buffer.byteLength(collapsed)).toBeLessThanOrEqual(63);
    expect(current).not.toBe(collapsed);
    expect(fitName(`${long}x`, '_idx')).not.toBe(fitName(`${long}y`, '_idx'));
    expect(fitName('object_status', '_current')).toBe('object_status_current');
  });
});
