import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, writeJobFile } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, STANDARD_JOB } from '../helpers/history.js';
import {
  freePort,
  startPrometheus,
  startPushgateway,
  type PromSample,
  type Service,
} from '../helpers/prometheus.js';
import { lookupTool, requireTool } from '../helpers/tools.js';

/*
 * The metrics path end to end, with the real Pushgateway and Prometheus from Debian:
 * `run` pushes the stored totals, Prometheus scrapes the gateway, and PromQL answers with
 * the numbers the database holds.
 */

const tools = [lookupTool('prometheus'), lookupTool('prometheus-pushgateway')];
// Without them nothing is started, and every test fails (CI=true) or skips: see beforeEach below.
const skip = tools.some((tool) => !tool.path);

let db: TestDatabase;
let gateway: Service;
let prometheus: Awaited<ReturnType<typeof startPrometheus>>;
let jobs: ReturnType<typeof writeJobFile>;

const JOB = {
  ...STANDARD_JOB,
  lockTimeoutMs: 200,
};

beforeAll(async () => {
  if (skip) return;
  db = await createTestDatabase('metrics');
  await createHistoryTable(db);
  await db.query(`CREATE TABLE other_status (LIKE object_status INCLUDING ALL)`);
  jobs = writeJobFile([JOB, { ...JOB, name: 'other-status', table: 'public.other_status' }]);
  gateway = await startPushgateway();
  prometheus = await startPrometheus(new URL(gateway.url).host);
});
afterAll(async () => {
  if (skip) return;
  await prometheus?.stop();
  await gateway?.stop();
  jobs?.cleanup();
  await db?.drop();
});

const env = (): Record<string, string> => ({ DATABASE_URL: db.url, PUSHGATEWAY_URL: gateway.url });

/** Rows for 50 objects stamped "now" (after any checkpoint): each object A, A, B. */
async function insertBurst(): Promise<void> {
  await db.query(`INSERT INTO object_status (object_id, status_id, start_date)
    SELECT o, s, now() - make_interval(secs => 0.001 * (3 - k))
      FROM generate_series(1, 50) o, (VALUES (1, 1), (2, 1), (3, 2)) AS v(k, s)`);
}

async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const one = (samples: PromSample[]): number | undefined =>
  samples.length === 1 ? Number(samples[0]?.value[1]) : undefined;

async function dbTotals(): Promise<{ found: number; examined: number; successes: number }> {
  const [row] = await db.query<{ found: string; examined: string; successes: string }>(
    `SELECT duplicates_found::text AS found, rows_examined::text AS examined, runs_success::text AS successes
       FROM status_reconciler.totals WHERE job = 'object-status'`,
  );
  return { found: Number(row?.found), examined: Number(row?.examined), successes: Number(row?.successes) };
}

describe('metrics through the Pushgateway and Prometheus', () => {
  beforeEach((context) => {
    for (const tool of tools) requireTool(tool, context);
  });

  it('PromQL increase() and the collision ratio give the numbers the database says', async () => {
    const sel = '{reconcile_job="object-status"}';
    // Run 1 on an empty table: every counter starts its series at 0.
    expect((await runCli(['run', '--jobs', jobs.path], env())).code).toBe(0);
    await until('the first scrape', async () =>
      one(
        await prometheus.query(`status_reconciler_runs_total${sel.replace('}', ',outcome="success"}')}`),
      ) === 1
        ? true
        : undefined,
    );
    // Runs 2 and 3 find duplicates.
    for (let i = 0; i < 2; i++) {
      await insertBurst();
      await sleep(20);
      expect((await runCli(['run', '--jobs', jobs.path], env())).code).toBe(0);
    }
    const totals = await dbTotals();
    expect(totals.found).toBe(100);
    expect(totals.successes).toBe(3);
    // The sample carrying run 3's push: evaluate at its own timestamp, so increase() has
    // nothing to extrapolate at either end (the series starts at 0).
    const at = await until('the scrape of run 3', async () => {
      const s = await prometheus.query(
        `status_reconciler_runs_total${sel.replace('}', ',outcome="success"}')}`,
      );
      return Number(s[0]?.value[1]) === 3 ? s[0]?.value[0] : undefined;
    });
    const stamp = one(
      await prometheus.query(`timestamp(status_reconciler_duplicates_found_total${sel})`, at),
    );
    expect(stamp).toBeDefined();
    const increase = one(
      await prometheus.query(`increase(status_reconciler_duplicates_found_total${sel}[10m])`, stamp),
    );
    expect(increase).toBeCloseTo(totals.found, 6);
    const ratio = one(
      await prometheus.query(
        `increase(status_reconciler_duplicates_found_total${sel}[10m]) / increase(status_reconciler_rows_examined_total${sel}[10m])`,
        stamp,
      ),
    );
    expect(ratio).toBeCloseTo(totals.found / totals.examined, 9);
    // The gauge: the last run's own ratio, as run_history has it.
    const [last] = await db.query<{ ratio: number }>(
      `SELECT duplicates_found::float8 / rows_examined AS ratio FROM status_reconciler.run_history
        WHERE job = 'object-status' ORDER BY started_at DESC LIMIT 1`,
    );
    expect(one(await prometheus.query(`status_reconciler_collision_ratio${sel}`, stamp))).toBeCloseTo(
      last!.ratio,
      9,
    );
    // Two jobs, two groups: neither overwrote the other.
    const jobsSeen = await prometheus.query('count by (reconcile_job) (status_reconciler_runs_total)', stamp);
    expect(jobsSeen.map((s) => s.metric.reconcile_job).sort()).toEqual(['object-status', 'other-status']);
    // No per-pod labels: the gateway's instance label is empty.
    const instances = await prometheus.query(`status_reconciler_runs_total${sel}`, stamp);
    expect(instances.every((s) => !s.metric.instance && !s.metric.pod)).toBe(true);
  });

  it('a failed run pushes outcome failure and leaves the last-success gauge as it was', async () => {
    const before = await (await fetch(`${gateway.url}/metrics`)).text();
    const lastSuccess = before.match(
      /status_reconciler_last_success_timestamp_seconds\{[^}]*reconcile_job="object-status"[^}]*\} (\S+)/,
    )?.[1];
    expect(lastSuccess).toBeDefined();
    // A table lock the batch cannot get within lockTimeoutMs (200 ms): the run fails. (A row
    // lock no longer does: a locked duplicate is skipped and retried by the next run.)
    await insertBurst();
    const holder = await db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE object_status IN SHARE MODE`);
      const failed = await runCli(['run', '--jobs', jobs.path, '--job', 'object-status'], env());
      expect(failed.code).toBe(1);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    const after = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(after).toMatch(
      /status_reconciler_runs_total\{[^}]*outcome="failure"[^}]*reconcile_job="object-status"[^}]*\} 1\b|status_reconciler_runs_total\{[^}]*reconcile_job="object-status"[^}]*outcome="failure"[^}]*\} 1\b/,
    );
    const lastSuccessAfter = after.match(
      /status_reconciler_last_success_timestamp_seconds\{[^}]*reconcile_job="object-status"[^}]*\} (\S+)/,
    )?.[1];
    expect(lastSuccessAfter).toBe(lastSuccess);
  });

  it('a Pushgateway that is down is logged and does not fail the run', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const result = await runCli(['run', '--jobs', jobs.path], {
      DATABASE_URL: db.url,
      PUSHGATEWAY_URL: closed,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/metrics push failed/);
  });

  // Shards (src/config/shard.ts): one group and one series per shard, never overwriting each
  // other's (nor the job's unsharded series, pushed by the tests before); summed in PromQL
  // they are the job's numbers. One shard takes its index from the
  // command line, the other from the environment as an Indexed Job's pod would.
  it('two shards push a series each (shard label) whose sum PromQL gives as the database totals', async () => {
    await db.query(`INSERT INTO other_status (object_id, status_id, start_date)
      SELECT o, s, now() - interval '1 hour' + make_interval(secs => k)
        FROM generate_series(1, 40) o, (VALUES (1, 1), (2, 1), (3, 2)) AS v(k, s)`);
    const first = await runCli(
      ['run', '--jobs', jobs.path, '--job', 'other-status', '--shard-index', '0', '--shard-count', '2'],
      env(),
    );
    expect(first.code).toBe(0);
    const second = await runCli(['run', '--jobs', jobs.path, '--job', 'other-status'], {
      ...env(),
      JOB_COMPLETION_INDEX: '1',
      SHARD_COUNT: '2',
    });
    expect(second.code).toBe(0);
    const removed = await db.query<{ job: string; n: string }>(
      `SELECT job, duplicates_removed::text AS n FROM status_reconciler.totals
        WHERE job LIKE 'other-status#%' ORDER BY job`,
    );
    expect(removed.map((r) => r.job)).toEqual(['other-status#shard-0-of-2', 'other-status#shard-1-of-2']);
    const perShard = removed.map((r) => Number(r.n));
    expect(perShard.every((n) => n > 0)).toBe(true);
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(40);

    const series = await until('both shard series', async () => {
      const samples = await prometheus.query(
        'status_reconciler_duplicates_removed_total{reconcile_job="other-status",shard!=""}',
      );
      return samples.length === 2 ? samples : undefined;
    });
    expect(series.map((s) => [s.metric.shard, Number(s.value[1])]).sort()).toEqual([
      ['0', perShard[0]],
      ['1', perShard[1]],
    ]);
    const sum = await prometheus.query(
      'sum(status_reconciler_duplicates_removed_total{reconcile_job="other-status",shard!=""})',
    );
    expect(one(sum)).toBe(40);

    // `status` without a shard shows each shard's own history.
    const status = await runCli(['status', '--jobs', jobs.path, '--job', 'other-status'], env());
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('other-status [shard 0 of 2]');
    expect(status.stdout).toContain('other-status [shard 1 of 2]');
  });
});
