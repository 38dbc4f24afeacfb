import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/config/job.js';
import type { Shard } from '../../src/config/shard.js';
import { runJobs } from '../../src/reconcile/runJobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  expectCollapsedShadow,
  makeJob,
  resetHistoryTable,
  runOnce,
  silentLogger,
} from '../helpers/history.js';
import { racyWrites } from '../helpers/racyWriter.js';

/*
 * Shards (src/config/shard.ts): each process takes the objects whose key hashes to its index,
 * with its own lease, checkpoint, totals and run history. Three at once under the racing
 * writers of the concurrency test, on a plain table and on range- and hash-partitioned ones;
 * one shard alone; a change of the shard count. The oracle is the trigger-fed shadow of every
 * insert (expectCollapsedShadow), and which shard owns an object is computed here, in SQL
 * written out by the test.
 */

const OBJECTS = 30;
const WRITERS = 12;
const WRITE_SECONDS = Number(process.env.CONCURRENCY_SECONDS ?? 4);
const ARCHIVE = 'public.object_status_archive';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('shards');
});
afterAll(async () => {
  await db.drop();
});

/** The shard of object_id `column` among `count`, as the test computes it. */
const ownerOf = (column: string, count: number): string =>
  `((hashtextextended(ROW(${column})::text, 0) & 9223372036854775807) % ${count})::int`;

type Layout = 'plain' | 'range' | 'hash';

/** The standard history table, or the same partitioned: by month of start_date, or by object. */
async function freshTable(layout: Layout): Promise<void> {
  await resetHistoryTable(db);
  if (layout === 'plain') return;
  await db.query(`DROP TABLE object_status, object_status_shadow CASCADE; DROP FUNCTION object_status_copy;`);
  const partitions =
    layout === 'range'
      ? `CREATE TABLE object_status_old PARTITION OF object_status FOR VALUES FROM (MINVALUE) TO ('2026-01-01');
         CREATE TABLE object_status_new PARTITION OF object_status FOR VALUES FROM ('2026-01-01') TO (MAXVALUE);`
      : [0, 1, 2]
          .map(
            (r) =>
              `CREATE TABLE object_status_h${r} PARTITION OF object_status FOR VALUES WITH (modulus 3, remainder ${r});`,
          )
          .join('\n');
  await db.query(`
    CREATE TABLE object_status (
      id bigserial, object_id integer NOT NULL, status_id integer,
      start_date timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (id, ${layout === 'range' ? 'start_date' : 'object_id'})
    ) PARTITION BY ${layout === 'range' ? 'RANGE (start_date)' : 'HASH (object_id)'};
    ${partitions}
    CREATE INDEX ON object_status (object_id, start_date, id);
    CREATE TABLE object_status_shadow (id bigint, object_id integer, status_id integer, start_date timestamptz);
    CREATE FUNCTION object_status_copy() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO object_status_shadow SELECT NEW.*; RETURN NEW; END $$;
    CREATE TRIGGER copy_every_insert AFTER INSERT ON object_status
      FOR EACH ROW EXECUTE FUNCTION object_status_copy();`);
}

const job = makeJob({ settleSeconds: 0, batchSize: 7, mode: 'archive', archiveTable: ARCHIVE });
const sharded = (shard: Shard): Job => ({ ...job, shard });

async function runShard(shard: Shard, options: { full?: boolean } = {}) {
  const [result] = await runJobs(db.config, [sharded(shard)], {
    dryRun: false,
    full: options.full ?? false,
    logger: silentLogger,
  });
  if (!result) throw new Error('no result');
  if (result.outcome === 'failure') throw result.error ?? new Error('run failed');
  return result;
}

/** Consecutive duplicates left, per owner among `count` shards. */
async function leftByShard(count: number): Promise<Map<number, number>> {
  const rows = await db.query<{ shard: number; n: string }>(`
    SELECT ${ownerOf('object_id', count)} AS shard, count(*)::text AS n FROM (
      SELECT object_id, status_id IS NOT DISTINCT FROM lag(status_id) OVER w AND row_number() OVER w > 1 AS dup
        FROM object_status WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
     WHERE dup GROUP BY 1`);
  return new Map(rows.map((r) => [r.shard, Number(r.n)]));
}

/** Per shard key: the duplicates its totals say it removed. */
async function removedByState(): Promise<Map<string, number>> {
  const rows = await db.query<{ job: string; n: string }>(
    `SELECT job, duplicates_removed::text AS n FROM status_reconciler.totals`,
  );
  return new Map(rows.map((r) => [r.job, Number(r.n)]));
}

async function archivedByOwner(count: number): Promise<Map<number, number>> {
  const rows = await db.query<{ shard: number; n: string }>(
    `SELECT ${ownerOf('object_id', count)} AS shard, count(*)::text AS n FROM ${ARCHIVE} GROUP BY 1`,
  );
  return new Map(rows.map((r) => [r.shard, Number(r.n)]));
}

describe('three shards at once under racing writers', () => {
  for (const layout of ['plain', 'range', 'hash'] as const) {
    it(`loses nothing, leaves nothing, each object reconciled by its own shard only (${layout} table)`, async () => {
      await freshTable(layout);
      const clients: pg.Client[] = await Promise.all(Array.from({ length: WRITERS }, () => db.connect()));
      const stats = { inserts: 0 };
      const until = Date.now() + WRITE_SECONDS * 1000;
      const shards = [0, 1, 2].map((index) => ({ index, count: 3 }));
      const runs = [0, 0, 0];
      try {
        const writers = Promise.allSettled(clients.map((c) => racyWrites(c, until, stats, OBJECTS)));
        const reconcilers = shards.map(async (shard) => {
          while (Date.now() < until) {
            await runShard(shard);
            runs[shard.index] = (runs[shard.index] ?? 0) + 1;
          }
        });
        const settled = await writers;
        await Promise.all(reconcilers);
        for (const s of settled) if (s.status === 'rejected') throw s.reason;
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
      expect(stats.inserts).toBeGreaterThan(100);
      for (const n of runs) expect(n).toBeGreaterThan(2);

      for (const shard of shards) await runShard(shard);
      for (const shard of shards) expect((await runShard(shard, { full: true })).duplicatesFound).toBe(0);
      await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
      expect(await leftByShard(3)).toEqual(new Map());

      // Every archived row was removed by the shard that owns its object, and by no other:
      // per shard, its own totals equal the archived rows of its objects.
      const removed = await removedByState();
      const archived = await archivedByOwner(3);
      expect([...archived.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      for (const shard of shards) {
        expect(removed.get(`${job.name}#shard-${shard.index}-of-3`) ?? 0).toBe(
          archived.get(shard.index) ?? 0,
        );
      }
      expect(removed.has(job.name)).toBe(false);
      const history = await db.query<{ job: string }>(
        `SELECT DISTINCT job FROM status_reconciler.run_history ORDER BY job`,
      );
      expect(history.map((r) => r.job)).toEqual(shards.map((s) => `${job.name}#shard-${s.index}-of-3`));
    });
  }
});

/** Two duplicates for each of 60 objects, a second apart, a day ago. */
async function seedDuplicates(offsetDays: number): Promise<void> {
  await db.query(
    `INSERT INTO object_status (object_id, status_id, start_date)
     SELECT o, s, now() - interval '1 day' * $1 + (o * 10 + i) * interval '1 second'
       FROM generate_series(1, 60) o, (VALUES (1, 1), (2, 1), (3, 1), (4, 2)) v(i, s)`,
    [offsetDays],
  );
}

describe('one shard, and a change of the shard count', () => {
  it('shard 1 of 3 alone removes the duplicates of its objects and touches no other', async () => {
    await freshTable('plain');
    await seedDuplicates(2);
    const before = await leftByShard(3);
    expect(before.size).toBe(3);
    const result = await runShard({ index: 1, count: 3 });
    expect(result.duplicatesRemoved).toBe(before.get(1));
    const after = await leftByShard(3);
    expect(after.get(1)).toBeUndefined();
    expect(after.get(0)).toBe(before.get(0));
    expect(after.get(2)).toBe(before.get(2));
    expect(await archivedByOwner(3)).toEqual(new Map([[1, before.get(1)]]));
  });

  it('2 shards, then 3: the new count starts with full passes and loses nothing', async () => {
    await freshTable('plain');
    await seedDuplicates(3);
    for (const index of [0, 1]) await runShard({ index, count: 2 });
    expect(await leftByShard(2)).toEqual(new Map());
    // Duplicates born behind the 2-shard checkpoints: an incremental pass would not see them.
    await seedDuplicates(4);
    const results = [];
    for (const index of [0, 1, 2]) results.push(await runShard({ index, count: 3 }));
    expect(results.map((r) => r.scope)).toEqual(['full', 'full', 'full']);
    expect(await leftByShard(3)).toEqual(new Map());
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
    // And without shards again: the job's own state, also a full pass the first time.
    await seedDuplicates(5);
    const whole = await runOnce(db, job);
    expect(whole.scope).toBe('full');
    expect(whole.duplicatesRemoved).toBe(120);
    await expectCollapsedShadow(db, 'object_status', 'object_status_archive');
  });
});

describe('the shard of an object does not depend on session settings', () => {
  it('a timestamptz key, two shards whose sessions differ in TimeZone: every object reconciled once', async () => {
    await freshTable('plain');
    await db.query(`CREATE TABLE ts_status (id bigserial PRIMARY KEY, at_key timestamptz NOT NULL, status_id int,
        start_date timestamptz NOT NULL);
      CREATE INDEX ON ts_status (at_key, start_date, id);
      INSERT INTO ts_status (at_key, status_id, start_date)
      SELECT '2026-03-29 00:30:00+00'::timestamptz + o * interval '17 minutes', 1,
             now() - interval '1 day' + i * interval '1 second'
        FROM generate_series(1, 100) o, generate_series(1, 2) i;`);
    const tsJob = makeJob({ name: 'ts', table: 'public.ts_status', key: ['at_key'], settleSeconds: 0 });
    let removed = 0;
    for (const [index, zone] of [
      [0, 'UTC'],
      [1, 'Asia/Kolkata'],
    ] as const) {
      const [result] = await runJobs(
        { ...db.config, options: `-c TimeZone=${zone}` },
        [{ ...tsJob, shard: { index, count: 2 } }],
        { dryRun: false, full: false, logger: silentLogger },
      );
      if (result?.outcome !== 'success') throw result?.error ?? new Error('no result');
      removed += result.duplicatesRemoved;
    }
    expect(removed).toBe(100);
    const [left] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ts_status`);
    expect(left?.n).toBe('100');
  });
});
