import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJobs } from '../../src/reconcile/runJobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { racyWrites } from '../helpers/racyWriter.js';
import {
  resetHistoryTable,
  makeJob,
  runOnce,
  silentLogger,
  expectCollapsedShadow,
} from '../helpers/history.js';

/*
 * The race the tool exists for, for real: writers doing "read the latest status, insert if
 * different" in transactions that start well before they insert and commit late (so their
 * now()-stamped rows land behind rows others already committed), plus blind inserts, while
 * the reconciler runs again and again with settleSeconds 0. A trigger copies every insert
 * into a shadow table: the oracle. Afterwards each object's history must be exactly the
 * collapse of everything ever inserted (same kept ids), so no real transition was lost.
 */

const WRITERS = 16;
const OBJECTS = 12;
const racyWriter = (client: pg.Client, until: number, stats: { inserts: number }): Promise<void> =>
  racyWrites(client, until, stats, OBJECTS);
const WRITE_SECONDS = Number(process.env.CONCURRENCY_SECONDS ?? 4);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('concurrency');
});
afterAll(async () => {
  await db.drop();
});

async function expectInvariants(mode: 'delete' | 'archive'): Promise<void> {
  await expectCollapsedShadow(db, 'object_status', mode === 'archive' ? 'object_status_archive' : undefined);
  const leftovers = await db.query(`
    SELECT * FROM (
      SELECT id, status_id IS NOT DISTINCT FROM lag(status_id) OVER w AND row_number() OVER w > 1 AS dup
        FROM object_status WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
     WHERE dup`);
  expect(leftovers).toEqual([]);
}

describe('racing writers while the reconciler runs again and again', () => {
  // `pk`: the table has only its primary key, so batches find predecessors by tie-breaker
  // (src/reconcile/predecessorLookup.ts) and incremental scans read the table once.
  const cases = [
    ['delete', 'index'],
    ['archive', 'index'],
    ['delete', 'pk'],
  ] as const;
  for (const [mode, layout] of cases) {
    it(`loses no transition and leaves no duplicate (${mode} mode, ${layout} layout)`, async () => {
      await resetHistoryTable(db);
      if (layout === 'pk') await db.query(`DROP INDEX object_status_object_id_start_date_id_idx`);
      const job = makeJob({
        settleSeconds: 0,
        batchSize: 7,
        mode,
        ...(mode === 'archive' ? { archiveTable: 'public.object_status_archive' } : {}),
      });

      const clients = await Promise.all(Array.from({ length: WRITERS }, () => db.connect()));
      const stats = { inserts: 0 };
      let runs = 0;
      let removedWhileRacing = 0;
      const until = Date.now() + WRITE_SECONDS * 1000;
      try {
        const writers = Promise.allSettled(clients.map((c) => racyWriter(c, until, stats)));
        const reconciler = (async () => {
          while (Date.now() < until) {
            const [result] = await runJobs(db.config, [job], {
              dryRun: false,
              full: false,
              logger: silentLogger,
            });
            if (result?.outcome === 'failure') throw result.error;
            removedWhileRacing += result?.duplicatesRemoved ?? 0;
            runs += 1;
          }
        })();
        const settled = await writers;
        await reconciler;
        for (const s of settled) if (s.status === 'rejected') throw s.reason;
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }

      // The race really happened, and the reconciler really worked during it.
      const [{ dups }] = (await db.query<{ dups: string }>(`
        SELECT count(*)::text AS dups FROM (
          SELECT status_id IS NOT DISTINCT FROM lag(status_id) OVER w AND row_number() OVER w > 1 AS dup
            FROM object_status_shadow WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
         WHERE dup`)) as [{ dups: string }];
      expect(Number(dups)).toBeGreaterThan(0);
      expect(runs).toBeGreaterThan(3);
      expect(stats.inserts).toBeGreaterThan(100);

      const last = await runOnce(db, job);
      const full = await runOnce(db, job, { full: true });
      expect(full.duplicatesFound).toBe(0);
      await expectInvariants(mode);

      // The reconciler removed duplicates while the writers raced, not only in the runs after.
      expect(removedWhileRacing).toBeGreaterThan(0);
      // Every consecutive duplicate ever inserted was removed once and counted once: the history
      // now is the shadow's collapse (expectInvariants), so the rows gone are exactly the shadow's
      // duplicates, and the runs' results, the stored counter and the archive all add up to them.
      const removed = removedWhileRacing + last.duplicatesRemoved + full.duplicatesRemoved;
      expect(removed).toBe(Number(dups));
      const [totals] = await db.query<{ removed: string }>(
        `SELECT duplicates_removed::text AS removed FROM status_reconciler.totals WHERE job = $1`,
        [job.name],
      );
      expect(Number(totals?.removed)).toBe(removed);
      if (mode === 'archive') {
        const [archived] = await db.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM object_status_archive`,
        );
        expect(Number(archived?.n)).toBe(removed);
      }
      console.log(
        `${mode}: ${stats.inserts} inserts, ${dups} consecutive duplicates, ${runs} runs removed ` +
          `${removedWhileRacing} while racing, final run ${last.duplicatesRemoved}`,
      );
    });
  }
});
