import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/config/job.js';
import { runJobs } from '../../src/reconcile/runJobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { collapse, makeJob, runOnce, silentLogger, type HistoryRow } from '../helpers/history.js';
import { installZone, nextStaircaseFallBack, staircaseZone } from '../helpers/zones.js';

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

/*
 * Local times and dates written by sessions in several zones. Phase 1: old rows, each written
 * by a writer in its own session TimeZone from one timestamptz (so the value a row gets depends
 * on the writer's zone). Phase 2: rows stamped now() by those writers, some inside transactions
 * left open across runs and committed later (a late commit lands below rows already there).
 * After every run the table must keep exactly the collapse of every committed row, plus the
 * rows at or above the highest horizon so far, which no pass may have judged: a row committed
 * later below a horizon that judged its neighbours shows up at the next check, as a lost
 * transition or as a duplicate no incremental pass will look at again.
 * `timestamp`: the job's timeZone is set and every writer writes in it (a local time means
 * something in one zone only): a zone of our own whose clocks go back 1 s every 2 s, when the
 * server can load one, and phase 2 split around one of its fall-backs. `date`: writers in any
 * zone, no job timeZone, the reconciler's session in any zone (as a database default would be).
 */

const ZONES = ['UTC', 'Etc/GMT-14', 'Etc/GMT+12', 'Europe/Paris'];

type Step =
  | { kind: 'insert'; writer: number; a: number; s: number | null }
  | { kind: 'begin'; writer: number }
  | { kind: 'commit'; writer: number }
  | { kind: 'run' };

interface ZonedRow {
  writer: number;
  a: number;
  s: number | null;
  /** Hours after the phase's origin. */
  t: number;
}

const writerArb = fc.integer({ min: 0, max: ZONES.length - 1 });
const statusArb = fc.option(fc.integer({ min: 1, max: 2 }), { nil: null, freq: 5 });
const zonedRowArb = fc.record({
  writer: writerArb,
  a: fc.integer({ min: 1, max: 2 }),
  s: statusArb,
  t: fc.integer({ min: 0, max: 9 }),
});
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      writer: writerArb,
      a: fc.integer({ min: 1, max: 2 }),
      s: statusArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('begin' as const), writer: writerArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('commit' as const), writer: writerArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('run' as const) }) },
);

const ZONED_ROWS_SQL = `SELECT id::text AS id, a::text AS key, s::text AS status,
                               (extract(epoch FROM at) * 1000000)::bigint::text AS at FROM zoned`;

describe('local times and dates from writers in several zones equal an independent collapse', () => {
  let writers: pg.Client[] = [];
  const open = new Set<number>();
  let zones: { name: string; from: Date; remove(): void }[] = [];

  afterEach(async () => {
    await Promise.all(writers.map((w) => w.end()));
    writers = [];
    open.clear();
    for (const zone of zones) zone.remove();
    zones = [];
  });

  async function openWriters(zones: string[]): Promise<void> {
    writers = await Promise.all(zones.map(() => db.connect()));
    await Promise.all(
      writers.map((w, i) => w.query(`SET TimeZone = ${pg.escapeLiteral(zones[i] as string)}`)),
    );
  }

  /**
   * One case: `setup` (the job; for local times, the writers' zone and `shift`, a moment its
   * clocks go back), phase 1 and a full pass, `before`, then (with a shift) a pass just before it
   * and a wait for it, `after`, then every open transaction commits and a last pass. Checked
   * after every pass.
   */
  async function scenario(
    type: 'timestamp' | 'date',
    setup: () => Promise<{ job: Job; shift?: Date }>,
    database: pg.ClientConfig,
    phase1: ZonedRow[],
    before: Step[],
    after: Step[],
  ): Promise<void> {
    for (const w of writers) await w.query('ROLLBACK'); // a failed case may have left one open
    open.clear();
    await db.query(`DROP SCHEMA IF EXISTS status_reconciler CASCADE; DROP TABLE IF EXISTS zoned;
      CREATE TABLE zoned (id bigserial PRIMARY KEY, a int NOT NULL, s int, at ${type} NOT NULL DEFAULT now());
      CREATE INDEX ON zoned (a, at, id);`);
    const { job, shift } = await setup();
    const inserted = new Map<string, HistoryRow>();
    const horizons: string[] = [];
    const remember = async () => {
      for (const row of await db.query<HistoryRow>(ZONED_ROWS_SQL)) inserted.set(row.id, row);
    };
    const writer = (i: number): pg.Client => writers[i % writers.length] as pg.Client;
    const run = async () => {
      const [result] = await runJobs(database, [job], { dryRun: false, full: false, logger: silentLogger });
      if (result?.outcome === 'failure') throw result.error ?? new Error('run failed');
      if (result?.horizon !== undefined) horizons.push(result.horizon);
      await expectSettled(type, inserted, horizons);
    };
    const perform = async (step: Step) => {
      if (step.kind === 'run') return run();
      const w = step.writer % writers.length;
      const client = writer(w);
      if (step.kind === 'begin' && !open.has(w)) {
        await client.query('BEGIN');
        open.add(w);
      } else if (step.kind === 'commit' && open.has(w)) {
        await client.query('COMMIT');
        open.delete(w);
        await remember();
      } else if (step.kind === 'insert') {
        await client.query('INSERT INTO zoned (a, s) VALUES ($1, $2)', [step.a, step.s]);
        if (!open.has(w)) await remember();
      }
    };

    const [{ origin }] = (await db.query<{ origin: string }>(
      `SELECT (now() - interval '4 days')::text AS origin`,
    )) as [{ origin: string }];
    for (const r of phase1) {
      await writer(r.writer).query(
        `INSERT INTO zoned (a, s, at) VALUES ($1, $2, $3::timestamptz + $4 * interval '5 hours')`,
        [r.a, r.s, origin, r.t],
      );
    }
    await remember();
    await run();
    for (const step of before) await perform(step);
    if (shift) {
      // A pass in the last local second before the clocks go back (it happens again after).
      await sleep(Math.max(0, shift.getTime() - 250 - Date.now()));
      await run();
      await sleep(Math.max(0, shift.getTime() + 10 - Date.now()));
    }
    for (const step of after) await perform(step);
    for (const w of [...open]) await writer(w).query('COMMIT');
    open.clear();
    await remember();
    await run();
  }

  /** kept == collapse(every committed row) + the rows at or above the highest horizon so far. */
  async function expectSettled(
    type: 'timestamp' | 'date',
    inserted: Map<string, HistoryRow>,
    horizons: string[],
  ): Promise<void> {
    const [{ h }] = (await db.query<{ h: string | null }>(
      `SELECT (extract(epoch FROM max(h::${type})) * 1000000)::bigint::text AS h FROM unnest($1::text[]) h
        WHERE h::${type} > '-infinity'`,
      [horizons],
    )) as [{ h: string | null }];
    const unsettled = [...inserted.values()]
      .filter((r) => h === null || BigInt(r.at) >= BigInt(h))
      .map((r) => r.id);
    const expected = new Set([...collapse([...inserted.values()]), ...unsettled]);
    const kept = (await db.query<{ id: string }>('SELECT id::text AS id FROM zoned')).map((r) => r.id);
    const lost = [...expected].filter((id) => !kept.includes(id));
    const left = kept.filter((id) => !expected.has(id));
    const show = (ids: string[]) => JSON.stringify(ids.map((id) => inserted.get(id)));
    expect(
      kept.sort(),
      `removed though not a duplicate (or not yet judged): ${show(lost)}; ` +
        `a duplicate below the highest horizon (${h ?? 'none'}) still there: ${show(left)}`,
    ).toEqual([...expected].sort());
  }

  it('timestamp: the job timeZone, every writer in it, around clocks going back', async () => {
    // Two staircase zones, their clocks going back at even and at odd seconds: a case takes the
    // one whose next fall-back comes first, so it waits less than a second for it on average.
    const start = new Date(Math.ceil(Date.now() / 1000) * 1000);
    for (const from of [start, new Date(start.getTime() + 1000)]) {
      const zone = await installZone(
        db,
        staircaseZone(from, 600, 2, 60),
        undefined,
        'a zone whose clocks go back',
      );
      if (zone) zones.push({ ...zone, from });
    }
    if (zones.length === 0)
      console.warn('the timestamp property runs in Europe/Paris, without clocks that go back');
    await openWriters(['UTC', 'UTC', 'UTC']);
    const setup = async (): Promise<{ job: Job; shift?: Date }> => {
      // Room before the shift for phase 1, the first pass and `before`.
      const after = new Date(Date.now() + 400);
      const pick = zones
        .map((z) => ({ name: z.name, shift: nextStaircaseFallBack(z.from, after, 2, 60) }))
        .sort((x, y) => x.shift.getTime() - y.shift.getTime())[0];
      const timeZone = pick?.name ?? 'Europe/Paris';
      for (const w of writers) await w.query(`SET TimeZone = ${pg.escapeLiteral(timeZone)}`);
      const job = makeJob({
        name: 'zoned',
        table: 'zoned',
        key: ['a'],
        orderBy: ['at', 'id'],
        compare: ['s'],
        timeZone,
      });
      return { job, shift: pick?.shift };
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(zonedRowArb, { maxLength: 8 }),
        fc.array(stepArb, { maxLength: 6 }),
        fc.array(stepArb, { minLength: 2, maxLength: 8 }),
        async (phase1, before, after) => scenario('timestamp', setup, db.config, phase1, before, after),
      ),
      // Each case waits for a fall-back: few cases, and no shrinking, whose replays would wait
      // too and, timed by the clock, need not fail the same way.
      { numRuns: 4, endOnFailure: true },
    );
  });

  it('date: writers in every zone, the reconciler in any, no job timeZone', async () => {
    await openWriters(ZONES);
    const job = makeJob({ name: 'zoned', table: 'zoned', key: ['a'], orderBy: ['at', 'id'], compare: ['s'] });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ZONES),
        fc.array(zonedRowArb, { maxLength: 12 }),
        fc.array(stepArb, { maxLength: 12 }),
        async (reconcilerZone, phase1, steps) =>
          scenario(
            'date',
            async () => ({ job }),
            { ...db.config, options: `-c TimeZone=${reconcilerZone}` },
            phase1,
            steps,
            [],
          ),
      ),
      { numRuns: 12 },
    );
  });
});
