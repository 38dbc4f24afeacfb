import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/database.js';
import { expectCollapsedShadow } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import {
  historyDatabase,
  JOB,
  SCAN,
  summary,
  waitFor,
  within,
  WRITER,
  type HistoryDatabase,
} from '../helpers/stallRuns.js';

/*
 * Server-side timeouts through the real CLI: the database's idle_session_timeout while the
 * writer idles through a long wait of the scan, and the cause named (connection, job,
 * SQLSTATE) when a connection is ended or a statement cancelled. After each, a final run
 * must leave exactly the collapse of everything inserted (the trigger-fed shadow).
 */

let history: HistoryDatabase;
let db: TestDatabase;
const files = jobFiles();

beforeAll(async () => {
  history = await historyDatabase('timeouts');
  db = history.db;
});
afterAll(async () => {
  files.cleanup();
  await db.drop();
});
beforeEach(async () => {
  await history.reset();
});

const env = (url = db.url): Record<string, string> => ({ DATABASE_URL: url });

/*
 * For the tests that hold the table locked: in delete mode, since creating the archive
 * table on the first run (LIKE the table) would wait for the lock itself.
 */
const DELETE_JOB = { ...JOB, mode: 'delete', archiveTable: undefined };

const sessionWaitsOnLock = (client: pg.ClientBase, applicationName: string) => async (): Promise<boolean> =>
  (
    await client.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
          AND application_name = $1 AND wait_event_type = 'Lock'`,
      [applicationName],
    )
  ).rows.length > 0;

/** A client of the test's own that no idle_session_timeout of the database ends. */
async function steadyClient(): Promise<pg.Client> {
  const client = await db.connect();
  await client.query(`SELECT set_config('idle_session_timeout', '0', false)`);
  return client;
}

/**
 * Holds the table in ACCESS EXCLUSIVE mode (watch pg_stat_activity from another session: a
 * transaction sees it as of its first look): the scan (and nothing before it: planning reads
 * only the catalog) waits for it, while the writer sits idle between transactions.
 */
async function holdTableLock(client: pg.ClientBase): Promise<{ release: () => Promise<void> }> {
  await client.query('BEGIN');
  await client.query('LOCK TABLE object_status IN ACCESS EXCLUSIVE MODE');
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await client.query('ROLLBACK');
    },
  };
}

/**
 * Blocks the collapse of object 1's first duplicate: its predecessor (the first row, kept),
 * which the batch locks FOR SHARE to re-verify against, locked FOR UPDATE here.
 */
async function holdPredecessorLock(client: pg.ClientBase): Promise<{ release: () => Promise<void> }> {
  await client.query('BEGIN');
  await client.query(
    `SELECT id FROM object_status WHERE object_id = 1 ORDER BY start_date, id LIMIT 1 FOR UPDATE`,
  );
  return { release: async () => void (await client.query('ROLLBACK')) };
}

describe('server-side timeouts', () => {
  it("idle_session_timeout = 1s on the database: the writer idles through a long scan's wait, exit 0", async () => {
    await history.seed(200, 60);
    const path = files.write(DELETE_JOB);
    // The test's own sessions (the lock's, the one watching) are spared the timeout.
    const [holder, watcher] = [await steadyClient(), await steadyClient()];
    await db.query(`ALTER DATABASE ${db.name} SET idle_session_timeout = '1s'`);
    let running: ReturnType<typeof startCli> | undefined;
    try {
      const lock = await holdTableLock(holder);
      running = startCli(['run', '--jobs', path], env());
      await waitFor('the scan to wait on the table lock', sessionWaitsOnLock(watcher, SCAN));
      await sleep(2500); // the writer is idle between transactions all along, the scan too before
      await lock.release();
      const result = await within(running, 30000);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(summary(result)).toMatchObject({ outcome: 'success', duplicatesRemoved: 200 * 48 });
    } finally {
      running?.child.kill('SIGKILL');
      await db.query(`ALTER DATABASE ${db.name} RESET idle_session_timeout`);
      await Promise.all([holder.end(), watcher.end()]);
    }
    await expectCollapsedShadow(db, 'object_status');
  });

  it('check names the timeouts the role and database set, and what the reconciler does about each', async () => {
    await history.seed(2, 2);
    const path = files.write(DELETE_JOB);
    const quiet = await runCli(['check', '--jobs', path], env());
    expect(quiet.stdout).toContain('no server timeout is set for this role or database');
    await db.query(`ALTER DATABASE ${db.name} SET idle_session_timeout = '1s'`);
    await db.query(`ALTER DATABASE ${db.name} SET statement_timeout = '250ms'`);
    try {
      const result = await runCli(['check', '--jobs', path], env());
      expect(result.stdout).toMatch(
        /idle_session_timeout = 1000ms \(set by the role or database\): turned off for the reconciler's own sessions/,
      );
      expect(result.stdout).toMatch(
        /statement_timeout = 250ms \(set by database\): each write transaction uses the job's statementTimeoutMs/,
      );
      expect(result.stdout).not.toContain('no server timeout is set');
    } finally {
      await db.query(`ALTER DATABASE ${db.name} RESET idle_session_timeout`);
      await db.query(`ALTER DATABASE ${db.name} RESET statement_timeout`);
    }
  });

  it.each([
    ['writer', WRITER, 'the writer connection'],
    ['scan', SCAN, 'the scan connection'],
  ])(
    'the %s connection terminated while the scan waits: exit 1, naming the connection, the job and the cause',
    async (_label, applicationName, connection) => {
      await history.seed(20, 20);
      const path = files.write(DELETE_JOB);
      const [holder, watcher] = [await db.connect(), await db.connect()];
      let running: ReturnType<typeof startCli> | undefined;
      try {
        const lock = await holdTableLock(holder);
        running = startCli(['run', '--jobs', path], env());
        await waitFor('the scan to wait on the table lock', sessionWaitsOnLock(watcher, SCAN));
        await watcher.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = $1`,
          [applicationName],
        );
        await sleep(200);
        await lock.release();
        const result = await within(running, 30000);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(
          new RegExp(
            `job "object-status" failed: ${connection} of job "object-status" \\(backend pid \\d+\\) was closed: ` +
              'an administrator ended the session: pg_terminate_backend\\(\\).*' +
              '\\[SQLSTATE 57P01: terminating connection due to administrator command\\]',
          ),
        );
      } finally {
        running?.child.kill('SIGKILL');
        await Promise.all([holder.end(), watcher.end()]);
      }
      expect(await history.count('object_status')).toBe(400); // nothing removed
      expect((await runCli(['run', '--jobs', path], env())).code).toBe(0);
      await expectCollapsedShadow(db, 'object_status');
    },
  );

  it('a batch held up past its statement_timeout: exit 1, naming the timeout and the writer', async () => {
    await history.seed(20, 20);
    const path = files.write({ ...JOB, statementTimeoutMs: 500, lockTimeoutMs: 30000 });
    const holder = await db.connect();
    try {
      const lock = await holdPredecessorLock(holder);
      const result = await within(startCli(['run', '--jobs', path], env()), 30000);
      await lock.release();
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /a statement on the writer connection of job "object-status" \(backend pid \d+\) failed: statement_timeout \(for the writer, the job's statementTimeoutMs\).*\[SQLSTATE 57014: canceling statement due to statement timeout\]/,
      );
    } finally {
      await holder.end();
    }
    expect((await runCli(['run', '--jobs', path], env())).code).toBe(0);
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });
});
