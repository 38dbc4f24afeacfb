import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, writeJobFile } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, expectCollapsedShadow } from '../helpers/history.js';
import { freePort, promtoolCheckMetrics } from '../helpers/prometheus.js';
import { requireTool } from '../helpers/tools.js';

/*
 * serve for real: two jobs on one-second schedules, a run held up longer than its interval
 * (the next ticks must not overlap it), /metrics and /healthz, then SIGTERM while a batch
 * waits on a row lock: the batch finishes, nothing is lost, exit 0.
 */

let db: TestDatabase;
let jobs: ReturnType<typeof writeJobFile>;
const base = {
  key: ['object_id'],
  orderBy: ['start_date', 'id'],
  compare: ['status_id'],
  settleSeconds: 0,
  schedule: '* * * * * *',
  batchSize: 50,
  lockTimeoutMs: 20000,
};

beforeAll(async () => {
  db = await createTestDatabase('serve');
  await createHistoryTable(db, 'public.object_status');
  await createHistoryTable(db, 'public.other_status');
  jobs = writeJobFile([
    {
      ...base,
      name: 'object-status',
      table: 'public.object_status',
      mode: 'archive',
      archiveTable: 'public.object_status_archive',
    },
    { ...base, name: 'other-status', table: 'public.other_status' },
  ]);
});
afterAll(async () => {
  jobs.cleanup();
  await db.drop();
});

async function seed(table: string): Promise<void> {
  await db.query(`INSERT INTO ${table} (object_id, status_id, start_date)
    SELECT o, (i / 3) % 2, now() - make_interval(secs => 0.001 * (60 - i)) FROM generate_series(1, 40) o, generate_series(0, 59) i`);
}

async function waitFor<T>(
  what: string,
  get: () => Promise<T | undefined | false>,
  timeoutMs = 30000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const successes = async (job: string): Promise<number> =>
  (await db.query(`SELECT to_regclass('status_reconciler.run_history') AS t`))[0]?.t === null
    ? 0
    : Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM status_reconciler.run_history WHERE job = $1 AND outcome = 'success'`,
            [job],
          )
        )[0]?.n ?? 0,
      );

describe('serve', () => {
  it('schedules both jobs without overlap, serves metrics and health, and stops cleanly on SIGTERM', async () => {
    // Only the lint of /metrics needs promtool: without it (outside CI) the rest still runs.
    const promtool = requireTool('promtool', undefined, 'promtool check metrics of /metrics');
    await seed('object_status');
    await seed('other_status');
    const port = await freePort();
    const serving = startCli(['serve', '--jobs', jobs.path], {
      DATABASE_URL: db.url,
      METRICS_PORT: String(port),
    });
    try {
      await waitFor('a successful run of each job', async () =>
        (await successes('object-status')) > 0 && (await successes('other-status')) > 0 ? true : undefined,
      );

      const healthy = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(healthy.status).toBe(200);
      expect(await healthy.json()).toMatchObject({ status: 'ok', database: 'reachable' });

      // Hold up object-status: new duplicates, and a row lock on one of them.
      await seed('object_status');
      const holder = await db.connect();
      await holder.query('BEGIN');
      // Only the second-latest row, by id: the batch waits on it as the predecessor of the
      // latest (a locked duplicate itself would be skipped, not waited for).
      await holder.query(
        `SELECT id FROM object_status WHERE id = (SELECT id FROM object_status WHERE object_id = 1
           ORDER BY start_date DESC, id DESC LIMIT 1 OFFSET 1) FOR UPDATE`,
      );
      try {
        await waitFor(
          'the object-status batch to wait on the row lock',
          async () =>
            (
              await db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
              AND application_name = 'status-reconciler' AND wait_event_type = 'Lock'`)
            ).length > 0,
        );
        const otherBefore = await successes('other-status');
        await sleep(3500); // three or more ticks of object-status fall inside its held-up run
        // The other job kept its own schedule meanwhile.
        expect(await successes('other-status')).toBeGreaterThan(otherBefore);

        const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
        expect(metrics.status).toBe(200);
        const text = await metrics.text();
        expect(text).toMatch(
          /status_reconciler_runs_total\{reconcile_job="other-status",outcome="success"\} [1-9]/,
        );
        if (promtool) {
          const lint = promtoolCheckMetrics(text, promtool);
          expect(lint.output).toBe('');
          expect(lint.status).toBe(0);
        }
        // Held up for more than 3 of its intervals: unhealthy, and it says which job.
        const late = await fetch(`http://127.0.0.1:${port}/healthz`);
        expect(late.status).toBe(503);
        expect(await late.json()).toMatchObject({
          status: 'unhealthy',
          database: 'reachable',
          late: ['object-status'],
        });

        // SIGTERM while the batch waits; then let it through.
        serving.child.kill('SIGTERM');
        await sleep(300);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
      const result = await Promise.race([
        serving.done,
        sleep(15000).then(() => {
          throw new Error('serve did not exit within 15 s of SIGTERM');
        }),
      ]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/tick skipped: the previous run of this job is still going/);
      expect(result.stdout).toMatch(/"msg":"stopped"/);
    } finally {
      serving.child.kill('SIGKILL');
    }

    // Never two runs of one job at once.
    const runs = await db.query<{ job: string; started: string; finished: string }>(
      `SELECT job, extract(epoch FROM started_at)::text AS started, extract(epoch FROM finished_at)::text AS finished
         FROM status_reconciler.run_history ORDER BY job, started_at`,
    );
    for (let i = 1; i < runs.length; i++) {
      const [a, b] = [runs[i - 1]!, runs[i]!];
      if (a.job === b.job) expect(Number(b.started)).toBeGreaterThanOrEqual(Number(a.finished));
    }

    // Nothing lost: a final run, then kept (+ archived) equals the collapse of every insert.
    expect((await runCli(['run', '--jobs', jobs.path], { DATABASE_URL: db.url })).code).toBe(0);
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
    await expectCollapsedShadow(db, 'other_status');
  });
});
