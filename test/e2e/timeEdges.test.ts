import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeJobFile } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { STANDARD_JOB, expectCollapsedShadow } from '../helpers/history.js';
import {
  createTimeHistoryTable,
  expectSettledCollapse,
  exposition,
  rollbackPreparedTransactions,
  runJobCli,
  runJobsCli,
  sample,
  serverNow,
  sleepUntil,
  statusesOf,
  type Summary,
  type TimeType,
} from '../helpers/timeHistory.js';
import { unmet } from '../helpers/tools.js';
import { fallBackZone, installZone } from '../helpers/zones.js';

/*
 * Times that do not simply move forward, through the built CLI and checked with the shadow
 * oracle: local times that repeat when clocks go back, dates that depend on each writer's
 * TimeZone, infinite timestamps, and a prepared transaction whose start nobody knows.
 */

let db: TestDatabase;
/** Undone after each test, last first: clients, prepared transactions, settings, zones, job files. */
let cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  db = await createTestDatabase('timeedges');
});
afterEach(async () => {
  const errors: unknown[] = [];
  for (const undo of cleanups.reverse()) {
    try {
      await undo();
    } catch (error) {
      errors.push(error);
    }
  }
  cleanups = [];
  await rollbackPreparedTransactions(db);
  await db.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} RESET timezone`);
  await db.query(`DROP SCHEMA IF EXISTS status_reconciler CASCADE;
    DROP TABLE IF EXISTS object_status, object_status_shadow, other_status, other_status_shadow CASCADE;
    DROP FUNCTION IF EXISTS object_status_copy, other_status_copy;`);
  if (errors.length > 0) throw errors[0];
});
afterAll(async () => {
  await db.drop();
});

/** A client of its own in `timeZone`, closed after the test. */
async function writer(timeZone: string): Promise<pg.Client> {
  const client = await db.connect();
  cleanups.push(() => client.end());
  await client.query(`SET TimeZone = ${pg.escapeLiteral(timeZone)}`);
  return client;
}

function jobFile(jobs: Record<string, unknown>[]): string {
  const file = writeJobFile(jobs);
  cleanups.push(file.cleanup);
  return file.path;
}

/** Sets the database's default TimeZone (new sessions only); reset after the test. */
async function setDatabaseTimeZone(zone: string): Promise<void> {
  await db.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET timezone = ${pg.escapeLiteral(zone)}`);
}

function expectLagNotNegative(summaries: Record<string, Summary>): void {
  for (const [job, s] of Object.entries(summaries)) {
    expect
      .soft(s.horizonLagSeconds, `${job}: horizonLagSeconds (horizon ${s.horizon})`)
      .toBeGreaterThanOrEqual(0);
  }
}

describe('local time that goes back (timestamp without time zone, a zone with daylight saving)', () => {
  // The clocks go back this long after the test starts: enough for the first run to end before.
  const LEAD_MS = 10_000;

  it('a row that lands below judged rows after the clocks go back keeps its transition, with the job timeZone or the database default', async (context) => {
    const start = await serverNow(db);
    const shift = new Date(Math.ceil(start.getTime() / 1000) * 1000 + LEAD_MS);
    // UTC+00:10 until `shift`, then UTC: local times from shift to shift + 10 min happen twice.
    const zone = await installZone(db, fallBackZone(shift, '0:10', '0:00'), context);
    if (!zone) return;
    // Reset the database default before the zone goes (cleanups run last first).
    cleanups.push(zone.remove, () =>
      db.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} RESET timezone`),
    );
    const [offsets] = await db.query<{ before: number; after: number }>(
      `SELECT extract(epoch FROM ($1::timestamptz - interval '1 s') AT TIME ZONE $2
                               - ($1::timestamptz - interval '1 s') AT TIME ZONE 'UTC')::int AS before,
              extract(epoch FROM ($1::timestamptz + interval '1 s') AT TIME ZONE $2
                               - ($1::timestamptz + interval '1 s') AT TIME ZONE 'UTC')::int AS after`,
      [shift.toISOString(), zone.name],
    );
    expect(offsets, `the server's reading of ${zone.file}`).toEqual({ before: 600, after: 0 });

    // Two jobs on two tables: one sets the zone as its timeZone, the other has none and
    // gets it as the database's default TimeZone, the session default of its connections.
    await setDatabaseTimeZone(zone.name);
    const tables = { 'local-job-zone': 'object_status', 'local-db-zone': 'other_status' };
    for (const table of Object.values(tables))
      await createTimeHistoryTable(db, 'timestamp', `public.${table}`);
    const jobs = jobFile([
      { ...STANDARD_JOB, name: 'local-job-zone', timeZone: zone.name },
      { ...STANDARD_JOB, name: 'local-db-zone', table: 'public.other_status' },
    ]);
    const names = Object.keys(tables);
    const app = await writer(zone.name);

    for (const table of Object.values(tables)) {
      // A: an old row, at the local time 30 s before the clocks go back to (10.5 minutes ago).
      await app.query(
        `INSERT INTO ${table} (object_id, status_id, start_date)
         VALUES (1, 1, ($1::timestamptz AT TIME ZONE 'UTC') - interval '30 s')`,
        [shift.toISOString()],
      );
      // A again, now: local time 9 min 50 s or so after the local time of the shift.
      await app.query(`INSERT INTO ${table} (object_id, status_id) VALUES (1, 1)`);
    }
    const first = await runJobsCli(db, jobs, names);
    expectLagNotNegative(first);
    expect(
      (await serverNow(db)).getTime(),
      `the first run must end before the clocks go back (at ${shift.toISOString()}); raise LEAD_MS`,
    ).toBeLessThan(shift.getTime());

    await sleepUntil(db, new Date(shift.getTime() + 200));
    // B, now: its local time is below the second A's, which the first run may have judged.
    for (const table of Object.values(tables)) {
      await app.query(`INSERT INTO ${table} (object_id, status_id) VALUES (1, 2)`);
    }
    const second = await runJobsCli(db, jobs, names);
    expectLagNotNegative(second);
    for (const [job, table] of Object.entries(tables)) {
      expect(await statusesOf(db, table), `${job}: A, B, A`).toEqual([1, 2, 1]);
      await expectCollapsedShadow(db, table);
    }

    // Another B: a duplicate, at a local time below the first run's horizon. A later
    // incremental pass must still judge it.
    for (const table of Object.values(tables)) {
      await app.query(`INSERT INTO ${table} (object_id, status_id) VALUES (1, 2)`);
    }
    await sleep(5);
    const third = await runJobsCli(db, jobs, names);
    expectLagNotNegative(third);
    for (const [job, table] of Object.entries(tables)) {
      expect(third[job], job).toMatchObject({ scope: 'incremental', duplicatesRemoved: 1 });
      expect(await statusesOf(db, table), job).toEqual([1, 2, 1]);
      await expectCollapsedShadow(db, table);
    }
  });
});

describe("date columns and the writers' TimeZone", () => {
  // When a date changes: UTC midnight, UTC+14's (10:00 UTC), UTC-12's (12:00 UTC), UTC-13's
  // (13:00) and UTC-14's (14:00 UTC, the reconciler's date horizon without a job timeZone).
  async function awayFromMidnights(): Promise<void> {
    const now = await serverNow(db);
    for (const hour of [0, 10, 12, 13, 14]) {
      const next = new Date(now);
      next.setUTCHours(hour, 0, 0, 0);
      if (next <= now) next.setUTCDate(next.getUTCDate() + 1);
      if (next.getTime() - now.getTime() < 30_000) await sleepUntil(db, new Date(next.getTime() + 1000));
    }
  }

  // 'UTC+13' is POSIX for UTC-13: west of every real zone, a sign mix-up the horizon covers.
  it.each(['UTC', 'Etc/GMT+12', 'UTC+13'])(
    "database TimeZone UTC+14, a writer in %s: a row of the writer's current_date is not judged while its open transaction can still commit before it",
    async (writerZone) => {
      await awayFromMidnights();
      await setDatabaseTimeZone('Etc/GMT-14'); // POSIX sign: UTC+14
      await createTimeHistoryTable(db, 'date');
      const open = await writer(writerZone);
      const app = await writer(writerZone);
      const [dates] = (
        await app.query<{ today: string; behind: boolean }>(
          `SELECT current_date::text AS today, current_date < (now() AT TIME ZONE 'Etc/GMT-14')::date AS behind`,
        )
      ).rows;
      if (!dates?.behind) {
        console.warn(
          `note: now the ${writerZone} date (${dates?.today}) is UTC+14's date too, so this case cannot show ` +
            'the old date horizon (current_date in UTC+14) judging too far; it still checks the invariants',
        );
      }
      // Object 1: A yesterday; then B (open transaction, id first) and A (committed), both today.
      await app.query(
        `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, current_date - 1)`,
      );
      // Object 2: an old duplicate, settled under any rule.
      await app.query(`INSERT INTO object_status (object_id, status_id, start_date)
                       VALUES (2, 5, current_date - 3), (2, 5, current_date - 2)`);
      await open.query('BEGIN');
      await open.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 2)`);
      await app.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 1)`);

      const jobs = jobFile([{ ...STANDARD_JOB }]);
      const first = await runJobCli(db, jobs);
      expect(first.outcome).toBe('success');
      await open.query('COMMIT');

      await runJobCli(db, jobs);
      expect(await statusesOf(db, 'object_status', 1), 'A, B, A').toEqual([1, 2, 1]);
      await expectCollapsedShadow(db);
      // The first run judged object 2's old duplicate, and only that.
      expect(first.duplicatesRemoved).toBe(1);
      expect(await statusesOf(db, 'object_status', 2)).toEqual([5]);
    },
  );
});

describe('infinite times', () => {
  it.each(['timestamptz', 'timestamp', 'date'] as TimeType[])(
    '%s: -infinity rows are judged (a duplicate gap unknown, not observed), infinity rows never are',
    async (type) => {
      await createTimeHistoryTable(db, type);
      const [t1, t2, gap] =
        type === 'date'
          ? // UTC dates: below the date horizon (UTC-14's date), whatever the server's zone.
            [`(now() AT TIME ZONE 'UTC')::date - 3`, `(now() AT TIME ZONE 'UTC')::date - 2`, 86400]
          : [`now() - interval '2 hours'`, `now() - interval '1 hour'`, 3600];
      await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
        (1, 1, '-infinity'), (1, 1, ${t1}),
        (2, 2, ${t1}), (2, 2, 'infinity'),
        (3, 3, '-infinity'), (3, 3, '-infinity'),
        (4, 4, ${t1}), (4, 4, ${t2}),
        (5, 5, 'infinity'), (5, 5, 'infinity')`);
      const jobs = jobFile([{ ...STANDARD_JOB }]);

      const first = await runJobCli(db, jobs);
      expect(first).toMatchObject({ outcome: 'success', duplicatesFound: 3, duplicatesRemoved: 3 });
      await expectSettledCollapse(db, 'object_status', first.horizon);
      for (const object of [2, 5]) expect(await statusesOf(db, 'object_status', object)).toHaveLength(2);
      let metrics = await exposition(db, ['object-status']);
      const job = 'reconcile_job="object-status"';
      // Only object 4's duplicate has a known gap.
      expect(sample(metrics, 'status_reconciler_duplicate_gap_seconds_count', job)).toBe(1);
      expect(sample(metrics, 'status_reconciler_duplicate_gap_seconds_sum', job)).toBe(gap);

      if (type !== 'date') {
        // An incremental pass whose anchors are -infinity rows.
        await db.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 1), (3, 3)`);
        await sleep(5);
      }
      const second = await runJobCli(db, jobs);
      expect(second).toMatchObject({ outcome: 'success', scope: 'incremental' });
      expect(second.duplicatesRemoved).toBe(type === 'date' ? 0 : 2);
      await expectSettledCollapse(db, 'object_status', second.horizon);
      metrics = await exposition(db, ['object-status']);
      expect(sample(metrics, 'status_reconciler_duplicate_gap_seconds_count', job)).toBe(1);
    },
  );
});

describe('dates far apart', () => {
  it('a date history spanning over 68 years (a 1900 sentinel row) is judged, not an integer overflow', async () => {
    await createTimeHistoryTable(db, 'date');
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES
      (1, 1, '1900-01-01'), (1, 1, '2019-01-01'), (1, 2, '2019-01-02'),
      (2, 3, '1950-01-01'), (2, 4, '2019-01-01'), (2, 4, '2019-01-02')`);
    const summary = await runJobCli(db, jobFile([{ ...STANDARD_JOB }]));
    expect(summary).toMatchObject({ outcome: 'success', duplicatesRemoved: 2 });
    expect(await statusesOf(db, 'object_status', 1)).toEqual([1, 2]);
    expect(await statusesOf(db, 'object_status', 2)).toEqual([3, 4]);
    await expectCollapsedShadow(db);
  });
});

describe('a prepared transaction', () => {
  async function requirePreparedTransactions(context: Parameters<typeof unmet>[2]): Promise<void> {
    const [row] = await db.query<{ max: string }>(
      `SELECT current_setting('max_prepared_transactions') AS max`,
    );
    if (Number(row?.max) === 0) {
      unmet(
        'max_prepared_transactions is 0 on this server, so no transaction can be prepared',
        'to fix: ALTER SYSTEM SET max_prepared_transactions = 20, then restart the server ' +
          "(.ci/run does this for the machine's PostgreSQL; the embedded server sets 10)",
        context,
      );
    }
  }

  /** BEGIN; INSERT (object, status); PREPARE TRANSACTION gid, on a client of its own. */
  async function prepare(object: number, status: number): Promise<string> {
    const gid = `sr_time_edges_${randomBytes(4).toString('hex')}`;
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO object_status (object_id, status_id) VALUES ($1, $2)`, [
        object,
        status,
      ]);
      await client.query(`PREPARE TRANSACTION ${pg.escapeLiteral(gid)}`);
    } finally {
      await client.end();
    }
    return gid;
  }

  it('on a first run (no checkpoint) skips, naming it, and removes nothing until it ends', async (context) => {
    await requirePreparedTransactions(context);
    await createTimeHistoryTable(db, 'timestamptz');
    await db.query(`INSERT INTO object_status (object_id, status_id, start_date)
                    VALUES (1, 1, now() - interval '2 hours'), (1, 1, now() - interval '1 hour')`);
    const gid = await prepare(2, 1);
    const jobs = jobFile([{ ...STANDARD_JOB }]);

    const held = await runJobCli(db, jobs);
    expect(held).toMatchObject({ outcome: 'skipped', duplicatesRemoved: 0 });
    expect(held.reason).toContain(gid);
    expect(held.reason).toMatch(/commit/i);
    expect(held.reason).toMatch(/roll(ed)? back/i);
    expect(await statusesOf(db, 'object_status')).toEqual([1, 1]);

    await db.query(`ROLLBACK PREPARED ${pg.escapeLiteral(gid)}`);
    const after = await runJobCli(db, jobs);
    expect(after).toMatchObject({ outcome: 'success', duplicatesRemoved: 1 });
    await expectCollapsedShadow(db);
  });

  it('with a checkpoint holds the horizon there, and says so', async (context) => {
    await requirePreparedTransactions(context);
    await createTimeHistoryTable(db, 'timestamptz');
    await db.query(
      `INSERT INTO object_status (object_id, status_id, start_date) VALUES (1, 1, now() - interval '1 hour')`,
    );
    const jobs = jobFile([{ ...STANDARD_JOB }]);
    const checkpoint = await runJobCli(db, jobs);

    const gid = await prepare(1, 2); // B, dated when its transaction began
    await sleep(5);
    await db.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 1)`); // A after B
    const held = await runJobCli(db, jobs);
    expect(held).toMatchObject({ outcome: 'success', duplicatesRemoved: 0, horizon: checkpoint.horizon });
    expect(held.reason).toMatch(/prepared transaction/i);
    expect(held.reason).toMatch(/checkpoint/i);

    await db.query(`COMMIT PREPARED ${pg.escapeLiteral(gid)}`);
    await runJobCli(db, jobs);
    expect(await statusesOf(db, 'object_status')).toEqual([1, 2, 1]);
    await expectCollapsedShadow(db);
  });
});
