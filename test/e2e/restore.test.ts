/*
 * `restore` through the real CLI, after real runs in archive mode: every restored row is
 * compared, column by column and ids included, with what the archive held before; rows
 * outside the key or the window stay archived, untouched; a dry run, a refused input or a
 * held lease changes nothing (both tables and the lease compared before and after).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { holdLease } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import { createLoginRole } from '../helpers/loginRole.js';

/*
 * A history table with what an exact restore must carry: a GENERATED ALWAYS identity id
 * (which only OVERRIDING SYSTEM VALUE lets take its old value), a generated column (computed
 * again), microseconds, numeric scale, arrays, jsonb and NULLs.
 */
const TABLE = 'public.ticket_status';
const ARCHIVE = 'public.ticket_status_archive';
const JOB = 'ticket-status';
/** Every column of the table, in order: what is compared, row by row, as a record's text. */
const COLUMNS = 'id, ticket_id, status, start_date, amount, tags, payload, status_upper';

async function createTicketTable(db: TestDatabase): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS status_reconciler CASCADE;
    DROP TABLE IF EXISTS ${TABLE}, ${ARCHIVE};
    CREATE TABLE ${TABLE} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      ticket_id integer NOT NULL,
      status text,
      start_date timestamptz NOT NULL,
      amount numeric(12, 3),
      tags text[],
      payload jsonb,
      status_upper text GENERATED ALWAYS AS (upper(status)) STORED);
    CREATE INDEX ON ${TABLE} (ticket_id, start_date, id);`);
}

const STATUSES = ['new', 'new', 'open', 'open', 'open', null, null, 'new', 'closed', 'closed'];

/** Ten rows per ticket, a second and some microseconds apart, from `day` on; runs of equal statuses. */
async function insertTickets(db: TestDatabase, tickets: number[], day: string): Promise<void> {
  const values = tickets.flatMap((t) =>
    STATUSES.map((status, i) => {
      const s = status === null ? 'NULL' : pg.escapeLiteral(status);
      const at = `timestamptz '${day} 00:00:00+00' + interval '${i} seconds ${t * 7 + i} microseconds'`;
      const payload = pg.escapeLiteral(
        JSON.stringify({ n: 12345678901234567890n.toString(), i, nested: [t] }),
      );
      const tags = i % 3 === 0 ? 'NULL' : `ARRAY['a b', ${pg.escapeLiteral(`t${t}`)}]`;
      return `(${t}, ${s}, ${at}, ${t}.${i}50, ${tags}, ${payload}::jsonb)`;
    }),
  );
  await db.query(
    `INSERT INTO ${TABLE} (ticket_id, status, start_date, amount, tags, payload) VALUES ${values.join(', ')}`,
  );
}

interface ArchivedRow {
  id: string;
  ticket: number;
  /** The record's text of every table column. */
  row: string;
  archivedAt: string;
}

async function tableRows(db: TestDatabase): Promise<Map<string, string>> {
  const rows = await db.query<{ id: string; row: string }>(
    `SELECT id::text AS id, ROW(${COLUMNS})::text AS row FROM ${TABLE}`,
  );
  return new Map(rows.map((r) => [r.id, r.row]));
}

async function archiveRows(db: TestDatabase): Promise<Map<string, ArchivedRow>> {
  const rows = await db.query<ArchivedRow>(
    `SELECT id::text AS id, ticket_id AS ticket, ROW(${COLUMNS})::text AS row, archived_at::text AS "archivedAt"
       FROM ${ARCHIVE}`,
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** Both tables whole (archived_at and repeated_id too) and the lease: what a restore could change. */
async function fingerprint(db: TestDatabase): Promise<string> {
  const [row] = await db.query<{ fp: string }>(
    `SELECT (SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM ${TABLE} t)
            || '|' || (SELECT count(*) || ':' || md5(coalesce(string_agg(a::text, ',' ORDER BY id), '')) FROM ${ARCHIVE} a)
            || '|' || (SELECT count(*) FROM status_reconciler.lease) AS fp`,
  );
  return row?.fp ?? '';
}

function restored(result: CliResult): number {
  const match = /^restored (\d+) row\(s\)/m.exec(result.stdout);
  if (!match) throw new Error(`no summary in: ${result.stdout}${result.stderr}`);
  return Number(match[1]);
}

describe('restore', () => {
  let db: TestDatabase;
  const files = jobFiles();
  let path: string;
  const env = (url = db.url): Record<string, string> => ({ DATABASE_URL: url, LOG_LEVEL: 'info' });
  const restore = (args: string[], url?: string): Promise<CliResult> =>
    runCli(['restore', '--jobs', path, '--job', JOB, ...args], env(url));
  const run = async (args: string[] = []): Promise<void> => {
    const result = await runCli(['run', '--jobs', path, ...args], env());
    expect(result.code, result.stdout + result.stderr).toBe(0);
  };
  /** The archive as the two runs left it, and the first moment of the second run's archiving. */
  let archived: Map<string, ArchivedRow>;
  let firstRun: ArchivedRow[];
  let secondRunAt: string;
  let firstRunAt: string;

  beforeAll(async () => {
    db = await createTestDatabase('e2e_restore');
    await createTicketTable(db);
    path = files.write({
      name: JOB,
      table: TABLE,
      key: ['ticket_id'],
      orderBy: ['start_date', 'id'],
      compare: ['status'],
      mode: 'archive',
      archiveTable: ARCHIVE,
      settleSeconds: 0,
      batchSize: 3,
    });
    // Two runs, each archiving its own rows: tickets 1-4, then 5-6 and more of ticket 1.
    await insertTickets(db, [1, 2, 3, 4], '2024-01-01');
    await run(['--full']);
    await insertTickets(db, [5, 6], '2024-02-01');
    await insertTickets(db, [1], '2024-03-01');
    await run(['--full']);
    archived = await archiveRows(db);
    // Batches of 3: each run archived in several transactions, so at several archived_at each.
    const [first] = await db.query<{ at: string }>(`SELECT min(archived_at)::text AS at FROM ${ARCHIVE}`);
    firstRunAt = first?.at ?? '';
    const [second] = await db.query<{ at: string }>(
      `SELECT min(archived_at)::text AS at FROM ${ARCHIVE} WHERE start_date >= '2024-02-01'`,
    );
    secondRunAt = second?.at ?? '';
    firstRun = [...archived.values()].filter((r) => r.archivedAt < secondRunAt);
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
  });

  it('the runs archived rows of both waves, at times that tell them apart', () => {
    // Per ticket: new new open open open NULL NULL new closed closed: 5 duplicates.
    expect(archived.size).toBe(7 * 5);
    expect(firstRun).toHaveLength(4 * 5);
    expect(firstRun.every((r) => r.ticket <= 4)).toBe(true);
    expect(firstRunAt < secondRunAt).toBe(true);
  });

  it('a dry run changes nothing and says how many rows would move', async () => {
    const before = await fingerprint(db);
    const window = await restore(['--since', firstRunAt, '--until', secondRunAt, '--dry-run']);
    expect(window.code, window.stderr).toBe(0);
    expect(window.stdout).toContain(`dry run: would restore ${firstRun.length} row(s) of job "${JOB}"`);
    expect(window.stdout).toContain('nothing was changed');
    const all = await restore(['--dry-run']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(`would restore ${archived.size} row(s)`);
    expect(all.stdout).toContain('(every archived row)');
    expect(await fingerprint(db)).toBe(before);
  });

  it('by time window: exactly the rows archived in [since, until), every column and id as archived', async () => {
    const tableBefore = await tableRows(db);
    const result = await restore(['--since', firstRunAt, '--until', secondRunAt]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(restored(result)).toBe(firstRun.length);
    expect(result.stdout).toContain(`in ${Math.ceil(firstRun.length / 3)} batch(es)`);
    expect(result.stderr).toContain('the next full pass (fullEvery, or run --full) archives them again');

    const tableAfter = await tableRows(db);
    for (const row of firstRun) expect(tableAfter.get(row.id)).toBe(row.row);
    expect(tableAfter.size).toBe(tableBefore.size + firstRun.length);
    for (const [id, row] of tableBefore) expect(tableAfter.get(id)).toBe(row);
    // The rest is still archived, untouched (archived_at included).
    const archiveAfter = await archiveRows(db);
    const moved = new Set(firstRun.map((r) => r.id));
    expect(archiveAfter).toEqual(new Map([...archived].filter(([id]) => !moved.has(id))));
    const [log] = (await restore(['--dry-run'])).stdout.split('\n').filter((l) => l.startsWith('{'));
    expect(JSON.parse(log ?? '{}')).toMatchObject({
      job: JOB,
      dryRun: true,
      wouldRestore: archiveAfter.size,
    });
  });

  it('a run after the restore: an incremental pass leaves the restored rows, a full pass archives them again', async () => {
    const back = firstRun.map((r) => r.id);
    await run();
    const table = await tableRows(db);
    expect(back.filter((id) => !table.has(id))).toEqual([]);
    await run(['--full']);
    const archive = await archiveRows(db);
    expect(back.filter((id) => !archive.has(id))).toEqual([]);
    for (const row of firstRun) expect(archive.get(row.id)?.row).toBe(row.row);
    archived = archive;
  });

  it('by key, and by key within a window: that object only', async () => {
    const ticket5 = [...archived.values()].filter((r) => r.ticket === 5);
    expect(ticket5).toHaveLength(5);
    const byKey = await restore(['--key', '5']);
    expect(byKey.code, byKey.stderr).toBe(0);
    expect(restored(byKey)).toBe(5);
    expect(byKey.stdout).toContain('(ticket_id = 5)');
    let table = await tableRows(db);
    for (const row of ticket5) expect(table.get(row.id)).toBe(row.row);
    let archive = await archiveRows(db);
    expect([...archive.values()].filter((r) => r.ticket === 5)).toEqual([]);
    expect(archive.size).toBe(archived.size - 5);

    // Ticket 1 was archived by the second run (its March rows) and again by the last full
    // pass (its January rows, restored above): only the March ones are before that pass.
    const [lastPass] = await db.query<{ at: string }>(
      `SELECT min(archived_at)::text AS at FROM ${ARCHIVE} WHERE ticket_id = 1 AND start_date < '2024-02-01'`,
    );
    const march = [...archive.values()].filter((r) => r.ticket === 1 && r.archivedAt < (lastPass?.at ?? ''));
    expect(march).toHaveLength(5);
    const within = await restore(['--key', '1', '--until', lastPass?.at ?? '']);
    expect(within.code, within.stderr).toBe(0);
    expect(restored(within)).toBe(5);
    table = await tableRows(db);
    for (const row of march) expect(table.get(row.id)).toBe(row.row);
    const left = archive;
    archive = await archiveRows(db);
    const moved = new Set(march.map((r) => r.id));
    expect(archive).toEqual(new Map([...left].filter(([id]) => !moved.has(id))));
    expect([...archive.values()].filter((r) => r.ticket === 1)).toHaveLength(5);
  });

  it('refused input: exit 2 naming the option, the value and what was expected; nothing changed', async () => {
    const before = await fingerprint(db);
    for (const [args, parts] of [
      [
        ['--key', '1', '--key', '2'],
        ['invalid --key: got 2 --key value(s) ("1", "2"); expected 1', '"ticket_id"'],
      ],
      [
        ['--key', 'one'],
        [
          'invalid --key: got "one" (the 1st --key, for column "ticket_id"); expected a value of type integer',
        ],
      ],
      [
        ['--since', 'last tuesday'],
        ['invalid --since: got "last tuesday"; expected a time PostgreSQL reads as timestamptz'],
      ],
      [['--until', '2026-13-01'], ['invalid --until: got "2026-13-01"']],
      [
        ['--since', '2026-12-02', '--until', '2026-12-01'],
        ['invalid --since/--until', 'expected --since before --until'],
      ],
      [
        ['--since', '2026-12-01 00:00+00', '--until', '2026-12-01 01:00+01'],
        ['expected --since before --until'],
      ],
      [['--key'], ["restore: Option '--key <value>' argument missing"]],
    ] as const) {
      const result = await restore([...args]);
      expect(result.code, result.stdout + result.stderr).toBe(2);
      for (const part of parts) expect(result.stderr).toContain(part);
      expect(result.stdout).not.toMatch(/restored/);
    }
    expect(await fingerprint(db)).toBe(before);
  });

  it('a delete-mode job has nothing to restore: exit 2, nothing changed', async () => {
    const before = await fingerprint(db);
    const deleting = files.write({
      name: 'deleting',
      table: TABLE,
      key: ['ticket_id'],
      orderBy: ['start_date', 'id'],
      compare: ['status'],
    });
    const result = await runCli(['restore', '--jobs', deleting, '--job', 'deleting'], env());
    expect(result.code, result.stdout + result.stderr).toBe(2);
    expect(result.stderr).toContain('restore: job "deleting"');
    expect(result.stderr).toContain('is in delete mode');
    expect(result.stderr).toContain('expected a job in archive mode');
    expect(await fingerprint(db)).toBe(before);
  });

  it('an archive whose columns no longer match the table: exit 2 with the fix, nothing changed', async () => {
    await db.query(`ALTER TABLE ${ARCHIVE} ADD COLUMN note text`);
    let before = await fingerprint(db);
    const extra = await restore([]);
    expect(extra.code, extra.stdout + extra.stderr).toBe(2);
    expect(extra.stderr).toContain('has column(s) "note" that public.ticket_status no longer has');
    expect(extra.stderr).toContain(`ALTER TABLE "public"."ticket_status_archive" DROP COLUMN "note";`);
    expect(await fingerprint(db)).toBe(before);
    await db.query(`ALTER TABLE ${ARCHIVE} DROP COLUMN note; ALTER TABLE ${TABLE} ADD COLUMN note text`);
    before = await fingerprint(db);
    const lacking = await restore([]);
    expect(lacking.code, lacking.stdout + lacking.stderr).toBe(2);
    expect(lacking.stderr).toContain('lacks column(s) "note" of public.ticket_status');
    expect(lacking.stderr).toContain(`ALTER TABLE "public"."ticket_status_archive" ADD COLUMN "note" text;`);
    expect(await fingerprint(db)).toBe(before);
    await db.query(`ALTER TABLE ${TABLE} DROP COLUMN note`);
  });

  it('while a run holds the job: exit 1, nothing restored; then the lease is free again', async () => {
    const holder = await holdLease(db, JOB);
    let before: string;
    try {
      before = await fingerprint(db);
      const result = await restore([]);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      expect(result.stderr).toContain(`a run holds job "${JOB}"`);
      expect(result.stderr).toContain('nothing was restored');
      expect(await fingerprint(db)).toBe(before);
      // A dry run still counts, and says the count may change.
      const dry = await restore(['--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stderr).toContain(`a run holds job "${JOB}" now`);
    } finally {
      await holder.end();
    }
    await db.query('DELETE FROM status_reconciler.lease');
    const all = await archiveRows(db);
    const result = await restore([]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(restored(result)).toBe(all.size);
    const table = await tableRows(db);
    for (const row of all.values()) expect(table.get(row.id)).toBe(row.row);
    expect((await archiveRows(db)).size).toBe(0);
    expect(await db.query('SELECT job FROM status_reconciler.lease')).toEqual([]); // given back
  });
});

describe('restore with a composite key, as the role `sql` grants', () => {
  let db: TestDatabase;
  const files = jobFiles();

  beforeAll(async () => {
    db = await createTestDatabase('e2e_restore_role');
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
  });

  it('the grants of `sql --role` are enough for run, history and restore; restore is exact per (tenant, object)', async () => {
    await db.query(`CREATE TABLE public.tenant_status (
        id bigserial PRIMARY KEY, tenant text NOT NULL, object_id integer NOT NULL,
        status_id integer, start_date timestamptz NOT NULL);
      CREATE INDEX ON public.tenant_status (tenant, object_id, start_date, id);
      CREATE INDEX ON public.tenant_status USING brin (start_date);
      INSERT INTO public.tenant_status (tenant, object_id, status_id, start_date) VALUES
        ('acme', 1, 1, '2024-01-01'), ('acme', 1, 1, '2024-01-02'), ('acme', 1, 2, '2024-01-03'),
        ('acme', 1, 2, '2024-01-04'), ('acme', 2, 1, '2024-01-01'), ('acme', 2, 1, '2024-01-02'),
        ('zeta', 1, 1, '2024-01-01'), ('zeta', 1, 1, '2024-01-02');`);
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
    const role = await createLoginRole(db, 'sr_restore');
    try {
      const sql = await runCli(['sql', '--jobs', path, '--role', role.name], {});
      expect(sql.code, sql.stderr).toBe(0);
      expect(sql.stdout).toContain(`GRANT INSERT ON TABLE "public"."tenant_status" TO "${role.name}";`);
      expect(sql.stdout).toContain(
        `GRANT DELETE ON TABLE "public"."tenant_status_archive" TO "${role.name}";`,
      );
      await db.query(sql.stdout);
      const asRole = { DATABASE_URL: role.url, LOG_LEVEL: 'warn' };
      const run = await runCli(['run', '--jobs', path], asRole);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const archive = await db.query<{ id: string; row: string }>(
        `SELECT id::text AS id, ROW(id, tenant, object_id, status_id, start_date)::text AS row
           FROM public.tenant_status_archive ORDER BY id`,
      );
      expect(archive.map((r) => r.id)).toEqual(['2', '4', '6', '8']);

      const history = await runCli(
        ['history', '--jobs', path, '--job', 'tenant-status', '--key', 'acme', '--key', '1', '--json'],
        asRole,
      );
      expect(history.code, history.stderr).toBe(0);
      const rows = JSON.parse(history.stdout) as { id: number; archived: boolean }[];
      expect(rows.map((r) => [r.id, r.archived])).toEqual([
        [1, false],
        [2, true],
        [3, false],
        [4, true],
      ]);

      const result = await runCli(
        ['restore', '--jobs', path, '--job', 'tenant-status', '--key', 'acme', '--key', '1'],
        asRole,
      );
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('restored 2 row(s)');
      expect(result.stdout).toContain('(tenant = acme, object_id = 1)');
      const back = await db.query<{ id: string; row: string }>(
        `SELECT id::text AS id, ROW(id, tenant, object_id, status_id, start_date)::text AS row
           FROM public.tenant_status WHERE id IN (2, 4) ORDER BY id`,
      );
      expect(back).toEqual(archive.filter((r) => r.id === '2' || r.id === '4'));
      const left = await db.query<{ id: string }>(
        'SELECT id::text AS id FROM public.tenant_status_archive ORDER BY id',
      );
      expect(left.map((r) => r.id)).toEqual(['6', '8']);
    } finally {
      await db.drop();
      db = undefined as unknown as TestDatabase;
      await role.drop();
    }
  });
});

// Review of #12: what the first version let through.
describe('restore refuses what would move rows wrongly', () => {
  let db: TestDatabase;
  const files = jobFiles();
  let path: string;
  const env = (): Record<string, string> => ({ DATABASE_URL: db.url });
  const restore = (args: string[], extra: Record<string, string> = {}): Promise<CliResult> =>
    runCli(['restore', '--jobs', path, '--job', 'vt', ...args], { ...env(), ...extra });
  const snapshot = async (): Promise<string> =>
    JSON.stringify([
      await db.query(`SELECT * FROM vt ORDER BY id`),
      await db.query(`SELECT id, code, status, start_date, repeated_id FROM vt_archive ORDER BY id`),
    ]);

  beforeAll(async () => {
    db = await createTestDatabase('e2e_restore_refused');
    await db.query(`CREATE TABLE vt (id bigserial PRIMARY KEY, code varchar(4) NOT NULL, status int,
        start_date timestamptz NOT NULL);
      CREATE INDEX ON vt (code, start_date, id);
      INSERT INTO vt (code, status, start_date)
      SELECT c, 1, '2024-01-01'::timestamptz + i * interval '1 minute'
        FROM unnest(ARRAY['acme', 'beta']) c, generate_series(1, 3) i;`);
    path = files.write({
      name: 'vt',
      table: 'public.vt',
      key: ['code'],
      orderBy: ['start_date', 'id'],
      compare: ['status'],
      mode: 'archive',
      archiveTable: 'public.vt_archive',
      settleSeconds: 0,
    });
    const run = await runCli(['run', '--jobs', path], env());
    expect(run.code, run.stderr).toBe(0);
    const [archived] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM vt_archive`);
    expect(archived?.n).toBe('4');
  });
  afterAll(async () => {
    files.cleanup();
    await db?.drop();
  });

  it('a --key the column type would change (varchar(4) takes "acmeXYZ" as "acme"): exit 2, nothing moved', async () => {
    const before = await snapshot();
    const result = await restore(['--key', 'acmeXYZ']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('invalid --key: got "acmeXYZ"');
    expect(result.stderr).toContain('the column would store it as "acme", another key');
    expect(await snapshot()).toBe(before);
  });

  it('shard options: exit 2; a shard of the job running: exit 1; nothing moved either time', async () => {
    const before = await snapshot();
    const sharded = await restore([], { SHARD_INDEX: '0', SHARD_COUNT: '2' });
    expect(sharded.code, sharded.stderr).toBe(2);
    expect(sharded.stderr).toContain('expected none: a restore takes the whole job');
    await db.query(`INSERT INTO status_reconciler.lease
      (job, holder, token, acquired_at, renewed_at, expires_at, backend_pid)
      VALUES ('vt#shard-1-of-2', 'another pod', 1, now(), now(), now() + interval '1 minute', 0)`);
    try {
      const running = await restore([]);
      expect(running.code, running.stderr).toBe(1);
      expect(running.stderr).toContain('a sharded run of job "vt" is going on (vt#shard-1-of-2)');
      expect(await snapshot()).toBe(before);
    } finally {
      await db.query(`DELETE FROM status_reconciler.lease WHERE job LIKE 'vt#%'`);
    }
  });

  it('a trigger that swallows an insert: the batch rolls back, exit 1, no row in neither table', async () => {
    await db.query(`CREATE FUNCTION vt_swallow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.code = 'beta' THEN RETURN NULL; END IF; RETURN NEW; END $$;
      CREATE TRIGGER swallow BEFORE INSERT ON vt FOR EACH ROW EXECUTE FUNCTION vt_swallow();`);
    try {
      const before = await snapshot();
      const result = await restore([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/took \d of the \d rows of a batch/);
      expect(await snapshot()).toBe(before);
    } finally {
      await db.query(`DROP TRIGGER swallow ON vt; DROP FUNCTION vt_swallow;`);
    }
    const result = await restore([]);
    expect(result.code, result.stderr).toBe(0);
    const [left] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM vt_archive`);
    expect(left?.n).toBe('0');
    const [rows] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM vt`);
    expect(rows?.n).toBe('6');
  });
});
