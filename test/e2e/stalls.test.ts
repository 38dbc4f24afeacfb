import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canSignalBackends, stopBackend, type StoppedBackend } from '../helpers/backends.js';
import { startBlackhole } from '../helpers/blackhole.js';
import { logLines, runCli, startCli, type CliResult } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/database.js';
import { expectCollapsedShadow } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import { freePort } from '../helpers/prometheus.js';
import { MIGRATION_LOCK } from '../../src/sql/stateSchema.js';
import {
  committedBatch,
  historyDatabase,
  JOB,
  SCAN,
  summary,
  waitFor,
  within,
  type HistoryDatabase,
} from '../helpers/stallRuns.js';

/*
 * Stalls through the real CLI, against the job's runTimeout: the scan's backend stopped with
 * SIGSTOP (as root: the server runs as postgres), under `run` and under `serve`, and a
 * network that stops forwarding (a proxy turned black hole). Each run must fail soon after
 * its deadline naming what it waited for, lose nothing, and let the next run finish: exactly
 * the collapse of everything inserted (the trigger-fed shadow), nothing in both tables.
 */

let history: HistoryDatabase;
let db: TestDatabase;
const files = jobFiles();

beforeAll(async () => {
  history = await historyDatabase('stalls');
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

describe('stalls and runTimeout', () => {
  it('a stopped scan backend (SIGSTOP): a warning, exit 1 soon after runTimeout naming the stall; the next run finishes', async (context) => {
    if (!(await canSignalBackends(db, context))) return;
    const total = await history.seed(2000, 60);
    const path = files.write({ ...JOB, runTimeout: '3s' });
    const started = Date.now();
    const running = startCli(['run', '--jobs', path], env());
    let stopped: StoppedBackend | undefined;
    let result: CliResult;
    try {
      await committedBatch(history, running);
      stopped = await stopBackend(db, SCAN);
      result = await within(running, 20000);
    } finally {
      stopped?.resume();
      running.child.kill('SIGKILL');
    }
    const seconds = (Date.now() - started) / 1000;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /job "object-status" failed: runTimeout \(3s\) reached after 3\.\d s, waiting for the scan \(the scan connection, backend pid \d+\) for \d+\.\d s: a stalled server, backend or network/,
    );
    expect(seconds).toBeLessThan(3 + 5); // the deadline, plus the CLI's start and the failure's record
    const warning = logLines(result.stdout).find(
      (l) => l.level === 40 && /^no progress for/.test(String(l.msg)),
    );
    expect(warning).toMatchObject({ waitingFor: 'the scan', runTimeoutSeconds: 3 });
    expect(String(warning?.msg)).toMatch(
      /^no progress for \d+ s: waiting for the scan \(the scan connection/,
    );

    // Nothing lost, the checkpoint not advanced, the failure recorded.
    const left = await history.count('object_status');
    expect(left).toBeLessThan(total);
    expect(left + (await history.count('object_status_archive'))).toBe(total);
    expect(await db.query('SELECT * FROM status_reconciler.checkpoint')).toEqual([]);
    const [run] = await db.query<{ outcome: string; error: string }>(
      'SELECT outcome, error FROM status_reconciler.run_history',
    );
    expect(run?.outcome).toBe('failure');
    expect(run?.error).toMatch(/^runTimeout \(3s\) reached/);

    // The writer still answered: the lease was given back, and the next run does not skip.
    const final = await runCli(['run', '--jobs', files.write(JOB)], env());
    expect(final.code).toBe(0);
    expect(summary(final)?.outcome).toBe('success');
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });

  it('serve: the same deadline per run; the next tick finishes after SIGCONT', async (context) => {
    if (!(await canSignalBackends(db, context))) return;
    const total = await history.seed(2000, 60);
    const path = files.write({ ...JOB, runTimeout: '3s', schedule: '* * * * * *' });
    const serving = startCli(['serve', '--jobs', path], { ...env(), METRICS_PORT: String(await freePort()) });
    let stdout = '';
    serving.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const lines = (): Record<string, unknown>[] => logLines(stdout.slice(0, stdout.lastIndexOf('\n') + 1));
    let stopped: StoppedBackend | undefined;
    try {
      await committedBatch(history, serving);
      stopped = await stopBackend(db, SCAN);
      const stoppedAt = Date.now();
      await waitFor('the run to fail on its runTimeout', async () =>
        lines().some((l) => l.msg === 'run failed'),
      );
      expect((Date.now() - stoppedAt) / 1000).toBeLessThan(3 + 3);
      const failed = lines().find((l) => l.msg === 'run failed');
      expect((failed?.err as { message?: string }).message).toMatch(
        /^runTimeout \(3s\) reached after 3\.\d s, waiting for the scan/,
      );
      stopped.resume();
      await waitFor('a run to succeed after it', async () =>
        lines().some((l) => l.msg === 'run summary' && l.outcome === 'success'),
      );
      serving.child.kill('SIGTERM');
      expect((await within(serving, 20000)).code).toBe(0);
    } finally {
      stopped?.resume();
      serving.child.kill('SIGKILL');
    }
    expect((await history.count('object_status')) + (await history.count('object_status_archive'))).toBe(
      total,
    );
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });

  it('a network partition (a proxy that stops forwarding): exit 1 after runTimeout naming the stall', async () => {
    const total = await history.seed(2000, 60);
    const path = files.write({ ...JOB, runTimeout: '3s' });
    const proxy = await startBlackhole(db.url);
    const started = Date.now();
    const running = startCli(['run', '--jobs', path], env(proxy.through(db.url)));
    let result: CliResult;
    try {
      await committedBatch(history, running);
      proxy.partition();
      // The deadline cuts what it waits for; the failure's record then meets the partition
      // too, and gives up at the connect timeout (10 s).
      result = await within(running, 30000);
    } finally {
      running.child.kill('SIGKILL');
      await proxy.close();
    }
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /job "object-status" failed: runTimeout \(3s\) reached after 3\.\d s, waiting for (the scan \(the scan|a batch \(the writer) connection, backend pid \d+\)/,
    );
    expect((Date.now() - started) / 1000).toBeLessThan(3 + 3 + 10 + 5);
    expect((await history.count('object_status')) + (await history.count('object_status_archive'))).toBe(
      total,
    );

    // Its sessions end once the partition does (the proxy cut them); then the next run finishes.
    await waitFor(
      'the cut sessions to end',
      async () =>
        (
          await db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                          AND application_name LIKE 'status-reconciler%'`)
        ).length === 0,
    );
    const final = await runCli(['run', '--jobs', files.write(JOB)], env());
    expect(final.code).toBe(0);
    expect(summary(final)?.outcome).toBe('success');
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });
  it("the run's preparation held up (the migration's lock taken elsewhere): exit 1 after runTimeout naming it", async () => {
    const total = await history.seed(20, 20);
    const path = files.write({ ...JOB, runTimeout: '2s' });
    // A fresh database: the first run applies the migrations, under their advisory lock.
    const holder = await db.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const started = Date.now();
    let result: CliResult;
    try {
      result = await within(startCli(['run', '--jobs', path], env()), 30000);
    } finally {
      await holder.end();
    }
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'preparing the jobs (catalog checks, archive columns, migrations) did not finish within runTimeout (2 s)',
    );
    expect((Date.now() - started) / 1000).toBeLessThan(2 + 10);
    expect(await history.count('object_status')).toBe(total);
    const final = await runCli(['run', '--jobs', files.write(JOB)], env());
    expect(final.code, final.stdout + final.stderr).toBe(0);
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });
});
