import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logLines, writeJobFile, type CliResult, type RunningCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { resetHistoryTable, expectCollapsedShadow, STANDARD_JOB } from '../helpers/history.js';
import { pgbouncerTool, startPgBouncer, startReconciler, type PgBouncer } from '../helpers/pgbouncer.js';
import { requireTool } from '../helpers/tools.js';

/*
 * The reconciler behind a real PgBouncer in transaction pooling (pool of 3 server connections,
 * shared with the writers), through the built CLI: nothing of a session may be relied on, since
 * the next transaction may run on another server connection, which meanwhile served others.
 * server_round_robin makes PgBouncer hand out the least recently used server connection, so
 * consecutive transactions of one client rotate over all three.
 */

const tool = pgbouncerTool();
let db: TestDatabase;
let bouncer: PgBouncer | undefined;
let jobs: { path: string; cleanup: () => void };
const JOB = { ...STANDARD_JOB, mode: 'archive', archiveTable: 'public.object_status_archive' };
const pooled = (): Record<string, string> => ({ DATABASE_URL: bouncer!.through(db.url) });

beforeAll(async () => {
  db = await createTestDatabase('pgbouncer');
  jobs = writeJobFile({ ...JOB, settleSeconds: 0, batchSize: 5, lockTimeoutMs: 30000 });
  if (tool.path) bouncer = await startPgBouncer(tool.path, db.url, { server_round_robin: 1 });
});
afterAll(async () => {
  await bouncer?.stop(); // first: its idle server connections still carry our application_name
  jobs?.cleanup();
  await db?.drop();
});
beforeEach(async () => {
  await resetHistoryTable(db);
});
/** What a test left running when it failed: CLI processes, lock holders, open clients. */
const leftovers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const end of leftovers.splice(0).reverse()) await end().catch(() => undefined);
});

function start(env = pooled(), ...flags: string[]): RunningCli {
  const running = startReconciler(['run', '--jobs', jobs.path, ...flags], env);
  leftovers.push(async () => running.child.exitCode === null && running.child.kill('SIGKILL'));
  return running;
}
const run = (env = pooled(), ...flags: string[]): Promise<CliResult> => start(env, ...flags).done;
const summary = (r: CliResult): Record<string, unknown> | undefined =>
  logLines(r.stdout).find((l) => l.job === 'object-status' && 'outcome' in l);
const insert = (object: number, status: number, at = 'now()'): Promise<unknown> =>
  db.query(`INSERT INTO object_status (object_id, status_id, start_date) VALUES ($1, $2, ${at})`, [
    object,
    status,
  ]);
/** A client through PgBouncer; an application as it connects (its own application_name, or none). */
async function pooledClient(applicationName?: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: bouncer!.through(db.url),
    application_name: applicationName,
  });
  client.on('error', () => undefined);
  leftovers.push(() => client.end());
  await client.connect();
  return client;
}
async function waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs = 15000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await predicate()); await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}
const waitingOnLock = async (): Promise<number> =>
  (
    await db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                       AND application_name = 'status-reconciler' AND wait_event_type = 'Lock'`)
  ).length;
/** Holds `sql` (a lock statement) in an open transaction of a direct session until release(). */
async function holdLock(sql: string): Promise<{ release: () => Promise<void> }> {
  const client = await db.connect();
  let released: Promise<void> | undefined;
  const release = (): Promise<void> => (released ??= client.query('ROLLBACK').then(() => client.end()));
  leftovers.push(release);
  await client.query('BEGIN');
  await client.query(sql);
  return { release };
}
/** Three server connections in the pool (it opens them as needed), so that transactions rotate. */
async function warmPool(): Promise<void> {
  const warm = await Promise.all([1, 2, 3].map(() => pooledClient('app')));
  await Promise.all(warm.map((c) => c.query('BEGIN; SELECT 1')));
  await Promise.all(warm.map((c) => c.query('COMMIT').then(() => c.end())));
}
const ROW_LOCK = `SELECT id FROM object_status WHERE object_id = 99 ORDER BY start_date, id LIMIT 1 FOR UPDATE`;

/*
 * The horizon: an open transaction of another client, on a server connection the reconciler
 * used a moment before, then commits a row in front of a duplicate. A1 ... X's B ... A2: A2 is
 * a real transition, and judging it before X commits would lose it.
 */
async function expectHorizonHolds(
  x: pg.Client,
  during: (reconcile: () => Promise<CliResult>) => Promise<void>,
): Promise<void> {
  await insert(1, 2); // A2, dated after X's start
  await during(async () => {
    const result = await run();
    expect(summary(result)).toMatchObject({ outcome: 'success' });
    return result;
  });
  await x.query(`INSERT INTO object_status (object_id, status_id) VALUES (1, 3)`); // B, dated X's start
  await x.query('COMMIT');
  expect(await expectCollapsedShadow(db, 'object_status', 'object_status_archive')).toHaveProperty('size', 3);
}

describe('behind PgBouncer in transaction pooling (pool of 3)', () => {
  it('a transaction begun on a server connection the run has just used holds the horizon', async (ctx) => {
    requireTool(tool, ctx);
    await insert(1, 2, "now() - interval '1 minute'"); // A1
    expect((await run({ DATABASE_URL: db.url })).code).toBe(0); // the schema, on a direct connection
    await warmPool();
    // The run stops on its checkpoint read; X begins on one of the two other server connections,
    // which served the run's earlier statements (an older build remembered their pids as its own).
    const lock = await holdLock('LOCK TABLE status_reconciler.checkpoint IN ACCESS EXCLUSIVE MODE');
    const running = start();
    await waitFor('the run to wait on the checkpoint', async () => (await waitingOnLock()) > 0);
    const x = await pooledClient('app');
    await x.query('BEGIN; SELECT 1');
    await expectHorizonHolds(x, async () => {
      await lock.release();
      expect(summary(await running.done)).toMatchObject({ outcome: 'success' });
    });
  });

  it('a client without application_name on a server connection our scanner used holds the horizon', async (ctx) => {
    requireTool(tool, ctx);
    await insert(1, 2, "now() - interval '1 minute'"); // A1
    await warmPool();
    expect(summary(await run())).toMatchObject({ outcome: 'success' });
    // PgBouncer leaves a server connection's application_name as its last client set it when
    // the next client sets none: find the one the scanner used last, and begin X there.
    let x: pg.Client | undefined;
    for (let attempt = 0; attempt < 6 && !x; attempt++) {
      const client = await pooledClient();
      await client.query('BEGIN');
      const { rows } = await client.query<{ name: string }>(
        `SELECT current_setting('application_name') AS name`,
      );
      if (rows[0]?.name === 'status-reconciler:scan') x = client;
      else await client.query('COMMIT').then(() => client.end());
    }
    expect(x, 'a server connection that the scanner used last').toBeDefined();
    await expectHorizonHolds(x!, async (reconcile) => void (await reconcile()));
  });

  it('20 sequential runs: none skipped, no advisory lock left on a pooled server connection', async (ctx) => {
    requireTool(tool, ctx);
    for (let i = 0; i < 20; i++) {
      await insert(1, i % 2);
      await insert(1, i % 2);
      const result = await run();
      expect(result.code).toBe(0);
      expect(summary(result), `run ${i + 1}`).toMatchObject({ outcome: 'success', duplicatesRemoved: 1 });
    }
    expect(
      await db.query(`SELECT * FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                       WHERE l.locktype = 'advisory' AND d.datname = current_database()`),
    ).toEqual([]);
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });
  it('racing writers with late commits on a busy pool, runners three at a time: nothing lost, never two at once', async (ctx) => {
    requireTool(tool, ctx);
    // The reconciler's schema first: runners that all start on a database without it can fail
    // in its migration (a separate matter, not PgBouncer's).
    expect((await run()).code).toBe(0);
    const until = Date.now() + 5000;
    const pick = (n: number): number => Math.floor(Math.random() * n);
    const writer = async (): Promise<number> => {
      const client = await pooledClient('app');
      let inserts = 0;
      try {
        while (Date.now() < until) {
          const object = 1 + pick(5);
          const status = 1 + pick(3);
          await client.query('BEGIN'); // now(): the row's start_date; a server connection from here
          await sleep(pick(25));
          const { rows } = await client.query<{ status_id: number }>(
            'SELECT status_id FROM object_status WHERE object_id = $1 ORDER BY start_date DESC, id DESC LIMIT 1',
            [object],
          );
          if (rows[0]?.status_id !== status) {
            await client.query('INSERT INTO object_status (object_id, status_id) VALUES ($1, $2)', [
              object,
              status,
            ]);
            inserts += 1;
          }
          await sleep(pick(40)); // commit late
          await client.query('COMMIT');
        }
      } finally {
        await client.end();
      }
      return inserts;
    };
    // Other clients of the pool holding transactions open: the reconciler waits for a server too.
    const hog = async (): Promise<void> => {
      const client = await pooledClient('app');
      while (Date.now() < until) await client.query(`BEGIN; SELECT pg_sleep(0.03 + random() / 20); COMMIT`);
      await client.end();
    };
    // Never two runners at once: two of our scanners in a transaction together are two passes.
    // (Every client here sets its application_name: none inherits the scanner's from PgBouncer.)
    const together: unknown[] = [];
    let scanned = false;
    let sampling = true;
    const sampler = (async () => {
      for (; sampling; await sleep(5)) {
        const scans = await db.query(`SELECT pid, xact_start, left(query, 40) AS query FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'status-reconciler:scan' AND xact_start IS NOT NULL`);
        if (scans.length > 1) together.push(scans);
        scanned ||= scans.length > 0;
      }
    })();
    const results: CliResult[] = [];
    const runner = async (): Promise<void> => {
      while (Date.now() < until) results.push(await run());
    };
    const reconciler = Promise.all([runner(), runner(), runner()]); // three at once, all along
    const [written] = await Promise.all([Promise.all(Array.from({ length: 5 }, writer)), hog(), hog()]);
    await reconciler;
    sampling = false;
    await sampler;

    const outcomes = results.map((r) => summary(r)?.outcome);
    expect(outcomes.filter((o) => o !== 'success' && o !== 'skipped')).toEqual([]);
    expect(outcomes.filter((o) => o === 'success').length).toBeGreaterThan(1);
    expect(together).toEqual([]);
    expect(scanned).toBe(true);
    // The race really happened: the shadow (every row ever inserted) has consecutive duplicates.
    const [{ dups }] = (await db.query<{ dups: number }>(`SELECT count(*)::int AS dups FROM (
      SELECT status_id = lag(status_id) OVER (PARTITION BY object_id ORDER BY start_date, id) AS dup
        FROM object_status_shadow) s WHERE dup`)) as [{ dups: number }];
    expect(dups).toBeGreaterThan(0);
    const removedWhileRacing = results.reduce((n, r) => n + Number(summary(r)?.duplicatesRemoved ?? 0), 0);
    expect(removedWhileRacing).toBeGreaterThan(0);
    expect(summary(await run(pooled(), '--full'))).toMatchObject({ outcome: 'success' });
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
    console.log(
      `${written.reduce((a, b) => a + b, 0)} rows written, ${dups} duplicates, ${results.length} runs ` +
        `(${outcomes.filter((o) => o === 'skipped').length} skipped), ${removedWhileRacing} removed while racing`,
    );
  });

  it("three runners at once, three times: one works, two skip; a killed runner's lease is taken over", async (ctx) => {
    requireTool(tool, ctx);
    const lease = async (): Promise<{ token: string; holder: string; pid: number } | undefined> =>
      (
        await db.query<{ token: string; holder: string; pid: number }>(
          `SELECT token::text AS token, holder, backend_pid AS pid FROM status_reconciler.lease`,
        )
      )[0];
    expect((await run()).code).toBe(0); // the schema first, as above
    for (let round = 0; round < 3; round++) {
      await insert(99, 1);
      await insert(99, 1);
      const lock = await holdLock(ROW_LOCK); // the winner's batch waits here
      const runners = [start(), start(), start()];
      let exited = 0;
      for (const r of runners) void r.done.then(() => (exited += 1));
      await waitFor('two runners to finish', async () => exited >= 2, 5000).catch(() => undefined);
      await lock.release();
      const outcomes = (await Promise.all(runners.map((r) => r.done))).map(
        (r) => summary(r)?.outcome ?? r.stderr,
      );
      expect(outcomes.sort(), `round ${round + 1}`).toEqual(['skipped', 'skipped', 'success']);
    }
    const runs = await db.query<{ s: Date; f: Date }>(`SELECT started_at AS s, finished_at AS f
      FROM status_reconciler.run_history WHERE outcome <> 'skipped' ORDER BY started_at`);
    for (let i = 1; i < runs.length; i++)
      expect(runs[i]!.s.getTime()).toBeGreaterThan(runs[i - 1]!.f.getTime());

    // Killed mid-batch: the renewal in that batch rolls back, and the lease names the server
    // connection of its last committed renewal. Behind PgBouncer that one lives on in the pool
    // (unless it was the batch's), so the lease holds until it expires (a minute: here, made to
    // expire at once); then the next runner takes it over, with the next token.
    await insert(99, 1);
    await insert(99, 1);
    let lock = await holdLock(ROW_LOCK);
    const killed = start();
    await waitFor('the batch to wait', async () => (await waitingOnLock()) > 0);
    const first = await lease();
    const [batch] = await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'status-reconciler' AND wait_event_type = 'Lock'`);
    killed.child.kill('SIGKILL');
    await killed.done;
    await lock.release(); // PgBouncer closes the batch's server connection: the batch rolls back
    await waitFor(
      'the batch to end',
      async () =>
        (await db.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [batch!.pid])).length === 0,
    );
    if (first!.pid !== batch!.pid) {
      expect(summary(await run())).toMatchObject({ outcome: 'skipped' }); // its session lives on
      expect(await lease()).toEqual(first);
    }
    await db.query(`UPDATE status_reconciler.lease SET expires_at = now() - interval '1 second'`);
    lock = await holdLock(ROW_LOCK);
    const next = start();
    await waitFor('the next batch to wait', async () => (await waitingOnLock()) > 0);
    const taken = await lease();
    await lock.release();
    expect(summary(await next.done)).toMatchObject({ outcome: 'success', duplicatesRemoved: 2 }); // its own and the killed one's
    expect(BigInt(taken!.token)).toBe(BigInt(first!.token) + 1n);
    expect(taken!.holder).not.toBe(first!.holder);
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
    expect(bouncer!.log()).not.toMatch(/WARNING|ERROR|advisory|own a lock/);
  });
});
