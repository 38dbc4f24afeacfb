import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../demo/embeddedPostgres.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  collapse,
  resetHistoryTable,
  historyRowsSql,
  STANDARD_JOB,
  type HistoryRow,
  expectCollapsedShadow,
} from '../helpers/history.js';
import { logLines, runCli, startCli, writeJobFile, type CliResult } from '../helpers/cli.js';

/*
 * Faults through the real CLI process: SIGKILL mid-run, its connections terminated by the
 * server mid-batch, two runners at once. After each, a final run must leave exactly the
 * collapse of everything inserted (the trigger-fed shadow), nothing lost, nothing in both.
 */

let db: TestDatabase;
let jobs: { path: string; cleanup: () => void };
const JOB = {
  ...STANDARD_JOB,
  mode: 'archive',
  archiveTable: 'public.object_status_archive',
  settleSeconds: 0,
  batchSize: 500,
  lockTimeoutMs: 30000,
};

beforeAll(async () => {
  db = await createTestDatabase('faults');
  jobs = writeJobFile(JOB);
});
afterAll(async () => {
  jobs.cleanup();
  await db.drop();
});
beforeEach(async () => {
  await resetHistoryTable(db);
});

/** objects x rowsPerObject rows, statuses in stretches of 5: 80% duplicates. */
async function seed(objects: number, rowsPerObject: number): Promise<number> {
  await db.query(
    `INSERT INTO object_status (object_id, status_id, start_date)
     SELECT o, (i / 5) % 3, timestamptz '2026-01-01' + make_interval(secs => i)
       FROM generate_series(1, $1) o, generate_series(0, $2 - 1) i`,
    [objects, rowsPerObject],
  );
  return objects * rowsPerObject;
}

const env = (): Record<string, string> => ({ DATABASE_URL: db.url });
const count = async (table: string): Promise<number> =>
  Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`))[0]?.n);

async function waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function expectInvariants(): Promise<void> {
  await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
}

function summary(result: CliResult): Record<string, unknown> | undefined {
  return logLines(result.stdout).find((l) => l.job === 'object-status' && 'outcome' in l);
}

/** Blocks the collapse of one duplicate: a row lock the batch must wait for. */
async function holdRowLock(): Promise<{ release: () => Promise<void> }> {
  const client = await db.connect();
  await client.query('BEGIN');
  await client.query(
    `SELECT id FROM object_status WHERE object_id = 1 ORDER BY start_date, id OFFSET 1 LIMIT 1 FOR UPDATE`,
  );
  return {
    release: async () => {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

const batchIsWaiting = async (): Promise<boolean> =>
  (
    await db.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
          AND application_name = 'status-reconciler' AND wait_event_type = 'Lock'`,
    )
  ).length > 0;

describe('faults', () => {
  it('SIGKILL mid-run: committed batches stay, the next run finishes the rest', async () => {
    const total = await seed(2000, 60);
    const expectedKept = collapse(await db.query<HistoryRow>(historyRowsSql('object_status_shadow'))).size;
    const running = startCli(['run', '--jobs', jobs.path], env());
    await waitFor('a committed batch', async () => (await count('object_status_archive').catch(() => 0)) > 0);
    running.child.kill('SIGKILL');
    const killed = await running.done;
    expect(killed.signal).toBe('SIGKILL');

    const left = await count('object_status');
    expect(left).toBeLessThan(total); // some batches committed
    expect(left).toBeGreaterThan(expectedKept); // and it really was killed mid-run
    expect(left + (await count('object_status_archive'))).toBe(total);
    expect(await db.query('SELECT * FROM status_reconciler.checkpoint')).toEqual([]);

    const final = await runCli(['run', '--jobs', jobs.path], env());
    expect(final.code).toBe(0);
    expect(summary(final)?.outcome).toBe('success'); // the killed run's lock died with it
    await expectInvariants();
  });

  it("pg_terminate_backend of the CLI's connections mid-batch: exit 1, the batch rolls back", async () => {
    const total = await seed(20, 20);
    const lock = await holdRowLock();
    const running = startCli(['run', '--jobs', jobs.path], env());
    try {
      await waitFor('the batch to wait on the row lock', batchIsWaiting);
      await db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name LIKE 'status-reconciler%'`,
      );
      const result = await running.done;
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/job "object-status" failed/);
      expect(summary(result)?.outcome).toBe('failure');
    } finally {
      await lock.release();
    }
    expect(await count('object_status')).toBe(total); // the one batch rolled back whole
    expect(await count('object_status_archive')).toBe(0);

    const final = await runCli(['run', '--jobs', jobs.path], env());
    expect(final.code).toBe(0);
    await expectInvariants();
  });

  it('a second runner of the same job skips it (exit 0) while the first holds it', async () => {
    const total = await seed(20, 20);
    const lock = await holdRowLock();
    const first = startCli(['run', '--jobs', jobs.path], env());
    try {
      await waitFor('the first runner to be mid-batch', batchIsWaiting);
      const second = await runCli(['run', '--jobs', jobs.path], env());
      expect(second.code).toBe(0);
      expect(summary(second)).toMatchObject({ outcome: 'skipped', duplicatesRemoved: 0 });
      expect(await count('object_status')).toBe(total);
    } finally {
      await lock.release();
    }
    const result = await first.done;
    expect(result.code).toBe(0);
    expect(summary(result)?.outcome).toBe('success');
    await expectInvariants();
  });

  it('two runners started together: one does the work, neither fails', async () => {
    await seed(500, 40);
    const [a, b] = await Promise.all([
      runCli(['run', '--jobs', jobs.path], env()),
      runCli(['run', '--jobs', jobs.path], env()),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const removed = [summary(a), summary(b)].map((s) => Number(s?.duplicatesRemoved ?? 0));
    // Either one skipped, or they ran one after the other and the second found nothing.
    expect(removed.filter((n) => n > 0)).toHaveLength(1);
    await expectInvariants();
  });

  describe('on a server of its own', () => {
    let shared: TestDatabase;
    let server: EmbeddedServer;
    beforeAll(async () => {
      // Restarting the server the other test files share would break them: this one is ours.
      server = await startEmbeddedPostgres();
      shared = db;
      db = await createTestDatabase('restart', server.url);
    });
    afterAll(async () => {
      await db.drop();
      db = shared;
      await server.stop();
    });
    // (The file's beforeEach creates the history table in this database too.)

    it('a database restart mid-run: exit 1, committed batches stay, the next run finishes', async () => {
      const total = await seed(2000, 60);
      const expectedKept = collapse(await db.query<HistoryRow>(historyRowsSql('object_status_shadow'))).size;
      const running = startCli(['run', '--jobs', jobs.path], env());
      await waitFor(
        'a committed batch',
        async () => (await count('object_status_archive').catch(() => 0)) > 0,
      );
      await server.restart(); // a fast shutdown: every session is cut off mid-statement
      const result = await running.done;
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/failed/);

      // The test pool's idle sessions died too; it opens new ones on the next query.
      const left = await count('object_status');
      expect(left).toBeLessThan(total);
      expect(left).toBeGreaterThan(expectedKept);
      expect(left + (await count('object_status_archive'))).toBe(total);

      const final = await runCli(['run', '--jobs', jobs.path], env());
      expect(final.code).toBe(0);
      await expectInvariants();
    });
  });
});
