import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from './database.js';
import { logLines, type CliResult } from './cli.js';
import { resetHistoryTable, STANDARD_JOB } from './history.js';

/*
 * What the end-to-end tests of timeouts and stalls share (test/e2e/timeouts.test.ts,
 * test/e2e/stalls.test.ts): the archive job, a history table seeded with duplicates, waits
 * with a deadline of their own (the code under test may sit silent: the test must not).
 */

export const JOB = {
  ...STANDARD_JOB,
  mode: 'archive',
  archiveTable: 'public.object_status_archive',
  settleSeconds: 0,
  batchSize: 500,
  lockTimeoutMs: 30000,
};
export const SCAN = 'status-reconciler:scan';
export const WRITER = 'status-reconciler';

/** A test database whose history table (with its shadow) each test starts afresh. */
export interface HistoryDatabase {
  db: TestDatabase;
  /** Drops and recreates the history table and the reconciler's schema. */
  reset(): Promise<void>;
  /** objects x rowsPerObject rows, statuses in stretches of 5: 80% duplicates; returns the count. */
  seed(objects: number, rowsPerObject: number): Promise<number>;
  count(table: string): Promise<number>;
}

export async function historyDatabase(prefix: string): Promise<HistoryDatabase> {
  const db = await createTestDatabase(prefix);
  const count = async (table: string): Promise<number> =>
    Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`))[0]?.n);
  return {
    db,
    count,
    reset: () => resetHistoryTable(db),
    async seed(objects, rowsPerObject) {
      await db.query(
        `INSERT INTO object_status (object_id, status_id, start_date)
         SELECT o, (i / 5) % 3, timestamptz '2026-01-01' + make_interval(secs => i)
           FROM generate_series(1, $1) o, generate_series(0, $2 - 1) i`,
        [objects, rowsPerObject],
      );
      return objects * rowsPerObject;
    },
  };
}

export async function waitFor(
  what: string,
  predicate: () => Promise<boolean>,
  timeoutMs = 30000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The CLI's end, or (SIGKILL, then) a failure saying it had not exited `ms` after its start. */
export async function within(
  running: { done: Promise<CliResult>; child: ChildProcess },
  ms: number,
): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      running.done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          running.child.kill('SIGKILL');
          reject(new Error(`the CLI had not exited ${ms / 1000} s after its start`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for a committed batch of the running CLI; fails at once, with its stderr, if it exits. */
export async function committedBatch(
  history: HistoryDatabase,
  running: { done: Promise<CliResult> },
): Promise<void> {
  let exited: CliResult | undefined;
  void running.done.then((result) => (exited = result));
  await waitFor('a committed batch', async () => {
    if (exited) throw new Error(`the CLI exited (${exited.code}) before a batch: ${exited.stderr}`);
    return (await history.count('object_status_archive').catch(() => 0)) > 0;
  });
}

/** The summary line of the object-status job. */
export function summary(result: CliResult): Record<string, unknown> | undefined {
  return logLines(result.stdout).find((l) => l.job === 'object-status' && 'outcome' in l);
}
