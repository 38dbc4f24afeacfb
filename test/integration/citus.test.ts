import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { planJob } from '../../src/reconcile/planJob.js';
import { runJobs } from '../../src/reconcile/runJobs.js';
import type { JobResult } from '../../src/reconcile/result.js';
import { citusTool, startCitus, type CitusCluster } from '../helpers/citus.js';
import { collapse, makeJob, silentLogger, type HistoryRow } from '../helpers/history.js';
import { pick } from '../helpers/racyWriter.js';
import { unmet } from '../helpers/tools.js';

/*
 * On a real Citus cluster (a coordinator and two workers): the table distributed by its key,
 * writers racing through the coordinator and directly through the workers (Citus accepts
 * writes on any node), half of them committing late, and the reconciler running every half
 * second with settleSeconds 0, so that only the horizon read from every node
 * (citus_stat_activity) keeps it off rows still in flight. The oracle: every insert a writer
 * saw commit (its RETURNING), collapsed in TypeScript.
 */

const WRITE_SECONDS = Number(process.env.CONCURRENCY_SECONDS ?? 6);
const OBJECTS = 24;
const tool = citusTool();
let cluster: CitusCluster | undefined;
let admin: pg.Client;

beforeAll(async () => {
  if (tool.problem) return;
  cluster = startCitus(2);
  admin = new pg.Client({ connectionString: cluster.coordinatorUrl });
  await admin.connect();
}, 180_000);
afterAll(async () => {
  await admin?.end();
  cluster?.stop();
});
beforeEach((context) => {
  if (tool.problem)
    unmet(tool.problem, 'run as root beside ../shared, or set CITUS_COORDINATOR_URL', context);
});

async function freshTable(mode: 'delete' | 'archive'): Promise<void> {
  await admin.query(`DROP TABLE IF EXISTS object_status, object_status_archive CASCADE;
    DROP SCHEMA IF EXISTS status_reconciler CASCADE;
    CREATE TABLE object_status (
      id bigserial, object_id int NOT NULL, status_id int, start_date timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (object_id, id));
    CREATE INDEX ON object_status (object_id, start_date, id);`);
  await admin.query(`SELECT create_distributed_table('object_status', 'object_id')`);
  void mode;
}

/** "Read the latest, insert if different", committing late half the time; records what committed. */
async function writer(url: string, until: number, committed: HistoryRow[]): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    while (Date.now() < until) {
      const object = 1 + pick(OBJECTS);
      const status = 1 + pick(3);
      await c.query('BEGIN');
      await sleep(pick(20));
      const { rows } = await c.query<{ status_id: number }>(
        'SELECT status_id FROM object_status WHERE object_id = $1 ORDER BY start_date DESC, id DESC LIMIT 1',
        [object],
      );
      let row: HistoryRow | undefined;
      if (rows[0]?.status_id !== status) {
        // (Citus allows no stable function in RETURNING: the row is read back in the transaction)
        const inserted = await c.query<{ id: string }>(
          'INSERT INTO object_status (object_id, status_id) VALUES ($1, $2) RETURNING id::text AS id',
          [object, status],
        );
        const back = await c.query<HistoryRow>(
          `SELECT id::text AS id, object_id::text AS key, status_id::text AS status,
                  (extract(epoch FROM start_date) * 1000000)::bigint::text AS at
             FROM object_status WHERE object_id = $1 AND id = $2`,
          [object, inserted.rows[0]?.id],
        );
        row = back.rows[0];
      }
      if (Math.random() < 0.5) await sleep(pick(60)); // commit late
      await c.query('COMMIT');
      if (row) committed.push(row);
    }
  } finally {
    await c.end();
  }
}

describe('Citus: a distributed table under writers on every node', () => {
  for (const mode of ['delete', 'archive'] as const) {
    it(`loses no transition, leaves no duplicate, every run succeeds (${mode} mode)`, async () => {
      const c = cluster as CitusCluster;
      await freshTable(mode);
      const job = makeJob({
        settleSeconds: 0,
        batchSize: 20,
        mode,
        ...(mode === 'archive' ? { archiveTable: 'public.object_status_archive' } : {}),
      });
      const config = { connectionString: c.coordinatorUrl };
      const committed: HistoryRow[] = [];
      const results: JobResult[] = [];
      const until = Date.now() + WRITE_SECONDS * 1000;
      const urls = [c.coordinatorUrl, ...c.workerUrls];
      const writers = Promise.all(
        Array.from({ length: 12 }, (_, i) => writer(urls[i % urls.length] as string, until, committed)),
      );
      const reconciler = (async () => {
        while (Date.now() < until) {
          const [result] = await runJobs(config, [job], { dryRun: false, full: false, logger: silentLogger });
          if (result) results.push(result);
          await sleep(500);
        }
      })();
      await writers;
      await reconciler;
      // Removing while the writers raced: the horizon moved on (Citus's own two-phase commits,
      // prepared on the workers at every distributed commit, did not hold it back).
      const racing = results.reduce((n, r) => n + r.duplicatesRemoved, 0);
      expect(racing).toBeGreaterThan(0);
      for (const full of [false, true]) {
        const [result] = await runJobs(config, [job], { dryRun: false, full, logger: silentLogger });
        if (result) results.push(result);
      }

      const failures = results.filter((r) => r.outcome === 'failure').map((r) => String(r.error?.message));
      expect(failures).toEqual([]);
      expect(results.length).toBeGreaterThanOrEqual(4); // two or more during the race, and the two after
      expect(committed.length).toBeGreaterThan(50);
      const removed = results.reduce((n, r) => n + r.duplicatesRemoved, 0);
      expect(removed).toBeGreaterThan(0);

      // Nothing lost: what is left is exactly the collapse of everything that committed.
      const left = await admin.query<{ id: string }>(`SELECT id::text AS id FROM object_status`);
      expect(new Set(left.rows.map((r) => r.id))).toEqual(collapse(committed));
      expect(left.rows.length + removed).toBe(committed.length);
      if (mode === 'archive') {
        const archived = await admin.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM object_status_archive`,
        );
        expect(Number(archived.rows[0]?.n)).toBe(removed);
      }
    }, 120_000);
  }

  // Review of #11: lock_timeout was set on the coordinator only, so a row locked on a worker
  // made the batch wait out statement_timeout and the whole run fail.
  it('a predecessor locked on its worker: skipped within lockTimeoutMs, every other duplicate removed', async () => {
    const c = cluster as CitusCluster;
    await freshTable('delete');
    await admin.query(`INSERT INTO object_status (object_id, status_id, start_date)
      SELECT o, 1, now() - interval '1 hour' + i * interval '1 second' FROM generate_series(1, 10) o, generate_series(1, 3) i`);
    const [{ node } = { node: '' }] = (
      await admin.query<{ node: string }>(
        `SELECT 'postgres://postgres@' || nodename || ':' || nodeport || '/postgres' AS node
           FROM citus_shards WHERE table_name = 'object_status'::regclass
            AND shardid = get_shard_id_for_distribution_column('object_status', 1)`,
      )
    ).rows;
    expect(c.workerUrls).toContain(node);
    const holder = new pg.Client({ connectionString: node });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        `SELECT id FROM object_status WHERE object_id = 1 ORDER BY start_date, id LIMIT 1 FOR NO KEY UPDATE`,
      );
      const job = makeJob({ settleSeconds: 0, lockTimeoutMs: 300, batchSize: 100 });
      const started = Date.now();
      const [result] = await runJobs({ connectionString: c.coordinatorUrl }, [job], {
        dryRun: false,
        full: true,
        logger: silentLogger,
      });
      expect(result?.outcome).toBe('success');
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(result?.lockedSkipped).toBe(1);
      expect(result?.duplicatesRemoved).toBe(19);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
  }, 60_000);

  it('a table distributed by a column outside the key is refused before anything changes', async () => {
    await admin.query(`DROP TABLE IF EXISTS by_id CASCADE;
      CREATE TABLE by_id (id bigserial PRIMARY KEY, object_id int NOT NULL, status_id int,
        start_date timestamptz NOT NULL)`);
    await admin.query(`SELECT create_distributed_table('by_id', 'id')`);
    const job = makeJob({ name: 'by-id', table: 'public.by_id', settleSeconds: 0 });
    await expect(planJob(admin, job)).rejects.toThrow(
      /public\.by_id is distributed by Citus on "id", which is not in the job's "key" \(object_id\)/,
    );
  });
});
