import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { collapse, makeJob, runOnce, type HistoryRow } from '../helpers/history.js';

/*
 * Random histories, reconciled by the real job against the real server, must equal an
 * independent collapse computed here in TypeScript. Multi-column key and compare, NULL
 * statuses, many timestamp ties (few distinct times), rows inserted in random order, tiny
 * batches (many collapse statements per pass), and a second phase of rows after the
 * checkpoint reconciled incrementally.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('property');
});
afterAll(async () => {
  await db.drop();
});

interface GeneratedRow {
  a: number;
  b: string;
  s1: number | null;
  s2: string | null;
  /** Seconds after the phase's origin: few values, so ties are common. */
  t: number;
}

const rowArb = fc.record({
  a: fc.integer({ min: 1, max: 3 }),
  b: fc.constantFrom('x', 'y'),
  s1: fc.option(fc.integer({ min: 1, max: 2 }), { nil: null, freq: 4 }),
  s2: fc.option(fc.constantFrom('p', 'q'), { nil: null, freq: 3 }),
  t: fc.integer({ min: 0, max: 6 }),
});

const ROWS_SQL = `SELECT id::text AS id, a::text || '|' || b AS key, json_build_array(s1, s2)::text AS status,
                         (extract(epoch FROM at) * 1000000)::bigint::text AS at FROM hist`;

async function insertPhase(
  rows: GeneratedRow[],
  firstId: number,
  origin: string,
  unit: string,
): Promise<void> {
  if (rows.length === 0) return;
  // ids are assigned in generation order but rows go in shuffled (reverse-interleaved) order.
  const order = rows.map((_, i) => i).sort((x, y) => ((x * 7919) % 13) - ((y * 7919) % 13) || x - y);
  for (const i of order) {
    const r = rows[i] as GeneratedRow;
    await db.query(
      `INSERT INTO hist (id, a, b, s1, s2, at) VALUES ($1, $2, $3, $4, $5, (${origin}) + $6 * interval '${unit}')`,
      [firstId + i, r.a, r.b, r.s1, r.s2, r.t],
    );
  }
}

async function check(
  mode: 'delete' | 'archive',
  phase1: GeneratedRow[],
  phase2: GeneratedRow[],
  batchSize: number,
) {
  await db.query(`DROP SCHEMA IF EXISTS status_reconciler CASCADE; DROP TABLE IF EXISTS hist, hist_archive;
    CREATE TABLE hist (id bigint PRIMARY KEY, a int NOT NULL, b text NOT NULL, s1 int, s2 text, at timestamptz NOT NULL);
    CREATE INDEX ON hist (a, b, at, id);`);
  const job = makeJob({
    name: 'prop',
    table: 'hist',
    key: ['a', 'b'],
    orderBy: ['at', 'id'],
    compare: ['s1', 's2'],
    mode,
    ...(mode === 'archive' ? { archiveTable: 'hist_archive' } : {}),
    batchSize,
  });
  const inserted = new Map<string, HistoryRow>();
  const remember = async () => {
    for (const row of await db.query<HistoryRow>(ROWS_SQL)) inserted.set(row.id, row);
  };

  await insertPhase(phase1, 1, `timestamptz '2026-01-01 00:00:00+00'`, '1 second');
  await remember();
  await runOnce(db, job);
  await verify(mode, inserted);

  // Phase 2: microseconds after the checkpoint, so below the next run's horizon.
  await insertPhase(
    phase2,
    1000,
    `(SELECT horizon::timestamptz FROM status_reconciler.checkpoint WHERE job = 'prop')`,
    '1 microsecond',
  );
  await remember();
  const second = await runOnce(db, job);
  expect(second.scope).toBe('incremental');
  await verify(mode, inserted);
}

async function verify(mode: 'delete' | 'archive', inserted: Map<string, HistoryRow>): Promise<void> {
  const expected = collapse([...inserted.values()]);
  const kept = new Set((await db.query<{ id: string }>('SELECT id::text AS id FROM hist')).map((r) => r.id));
  expect([...kept].sort()).toEqual([...expected].sort());
  if (mode === 'archive') {
    const archived = (await db.query<{ id: string }>('SELECT id::text AS id FROM hist_archive')).map(
      (r) => r.id,
    );
    expect(new Set(archived).size).toBe(archived.length);
    expect(archived.filter((id) => kept.has(id))).toEqual([]);
    expect([...kept, ...archived].sort()).toEqual([...inserted.keys()].sort());
  }
}

describe('random histories equal an independent collapse', () => {
  for (const mode of ['delete', 'archive'] as const) {
    it(`in ${mode} mode`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(rowArb, { maxLength: 40 }),
          fc.array(rowArb, { maxLength: 15 }),
          fc.integer({ min: 1, max: 4 }),
          async (phase1, phase2, batchSize) => check(mode, phase1, phase2, batchSize),
        ),
        { numRuns: 40 },
      );
    });
  }
});
