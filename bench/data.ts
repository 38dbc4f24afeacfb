/**
 * The benchmark's data, generated in the server (nothing travels through Node), and the
 * checks run after each pass. Everything lives in a database of the benchmark's own.
 *
 * bench_src   the history as generated: ~20 statuses per object over 30 days, the heap in
 *             time order (as an insert-only history table is), ids in that order; each
 *             object's statuses change at every step, then duplicates are added:
 *             - 40%: first-status races (the first row again, 0-50 ms later; 10% at the
 *               very same timestamp, ordered by id only),
 *             - 30%: races on a later status change (0-200 ms later),
 *             - 30%: genuine repeats (the same status again, hours later, before the next
 *               change).
 * truth_dup   the ids the reconciler must remove: every row whose status equals its
 *             predecessor's in (object_id, start_date, id) order, found by LAG in SQL.
 */
import type pg from 'pg';
import { LAYOUTS, type BenchConfig, type Layout } from './config.js';

export const TABLE = 'public.object_status';
export const ARCHIVE = 'public.object_status_archive';

export interface Dataset {
  rows: number;
  objects: number;
  duplicates: number;
  /** Duplicates by gap to the row they repeat: under 1 s (races), 1 s to 1 h, 1 h and more. */
  racesUnderOneSecond: number;
  gapsOneSecondToOneHour: number;
  gapsOverOneHour: number;
}

async function one<T>(c: pg.Client, text: string, values: unknown[] = []): Promise<T> {
  const { rows } = await c.query(text, values);
  return rows[0] as T;
}

export async function generate(c: pg.Client, config: BenchConfig): Promise<Dataset> {
  const duplicates = Math.round(config.rows * config.dupShare);
  const base = config.rows - duplicates;
  const firstRaces = Math.min(Math.round(duplicates * 0.4), config.objects);
  const laterRaces = Math.round(duplicates * 0.3);
  const repeats = duplicates - firstRaces - laterRaces;

  // Reproducible: one seeded session, no parallel workers (they would not share the seed).
  await c.query(`SET max_parallel_workers_per_gather = 0`);
  await c.query(`SELECT setseed(0.4242)`);
  await c.query(`DROP TABLE IF EXISTS bench_base, bench_src, truth_dup`);
  await c.query(
    `CREATE UNLOGGED TABLE bench_base AS
     SELECT object_id, start_date,
            (sum(step) OVER w % 6 + 1)::int AS status_id,
            row_number() OVER w AS nth,
            lead(start_date) OVER w AS next_date
       FROM (SELECT 1 + floor(random() * $1)::int AS object_id,
                    date_trunc('hour', now()) - interval '31 days' + random() * interval '30 days' AS start_date,
                    1 + floor(random() * 5)::int AS step, g
               FROM generate_series(1, $2::int) g) s
     WINDOW w AS (PARTITION BY object_id ORDER BY start_date, g)`,
    [config.objects, base],
  );
  // The samples are drawn in subqueries: a random() in the select list that also appears in
  // ORDER BY would be computed once and reused, skewing every offset towards zero.
  await c.query(
    `CREATE UNLOGGED TABLE bench_src AS
     SELECT row_number() OVER (ORDER BY start_date, object_id)::bigint AS id, object_id, status_id, start_date
       FROM (
         SELECT object_id, status_id, start_date FROM bench_base
         UNION ALL
         SELECT object_id, status_id,
                start_date + CASE WHEN random() < 0.1 THEN interval '0' ELSE random() * interval '50 ms' END
           FROM (SELECT * FROM bench_base WHERE nth = 1 ORDER BY random() LIMIT $1) first_races
         UNION ALL
         SELECT object_id, status_id, start_date + random() * interval '200 ms'
           FROM (SELECT * FROM bench_base WHERE nth > 1 ORDER BY random() LIMIT $2) later_races
         UNION ALL
         SELECT object_id, status_id,
                start_date + random() * least(coalesce(next_date - start_date, interval '12 hours'), interval '12 hours')
           FROM (SELECT * FROM bench_base ORDER BY random() LIMIT $3) repeats
       ) u
      ORDER BY start_date, object_id`,
    [firstRaces, laterRaces, repeats],
  );
  await c.query(`ALTER TABLE bench_src ADD PRIMARY KEY (id)`);
  await c.query(
    `CREATE UNLOGGED TABLE truth_dup AS
     SELECT id, gap FROM (
       SELECT id, status_id, lag(status_id) OVER w AS previous, row_number() OVER w AS nth,
              extract(epoch FROM start_date - lag(start_date) OVER w)::float8 AS gap
         FROM bench_src WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
      WHERE nth > 1 AND status_id IS NOT DISTINCT FROM previous`,
  );
  await c.query(`ALTER TABLE truth_dup ADD PRIMARY KEY (id)`);
  await c.query(`DROP TABLE bench_base`);
  await c.query(`ANALYZE bench_src; ANALYZE truth_dup`);
  await c.query(`RESET max_parallel_workers_per_gather`);
  const stats = await one<Record<string, string>>(
    c,
    `SELECT (SELECT count(*) FROM bench_src) AS rows,
            (SELECT count(DISTINCT object_id) FROM bench_src) AS objects,
            count(*) AS duplicates,
            count(*) FILTER (WHERE gap < 1) AS races,
            count(*) FILTER (WHERE gap >= 1 AND gap < 3600) AS middle,
            count(*) FILTER (WHERE gap >= 3600) AS hours
       FROM truth_dup`,
  );
  return {
    rows: Number(stats.rows),
    objects: Number(stats.objects),
    duplicates: Number(stats.duplicates),
    racesUnderOneSecond: Number(stats.races),
    gapsOneSecondToOneHour: Number(stats.middle),
    gapsOverOneHour: Number(stats.hours),
  };
}

/**
 * A fresh copy of the generated history as the job's table, with the layout's indexes,
 * vacuumed (visibility map set, as in a table at rest) and analyzed. The archive goes too.
 */
export async function freshCopy(c: pg.Client, layout: Layout): Promise<void> {
  await c.query(`DROP TABLE IF EXISTS ${ARCHIVE}, ${TABLE}`);
  // The primary key is added after the load (one index build, not 10M inserts into a btree),
  // and the load reads bench_src in id order through its primary key (no sort): at 10M rows
  // a copy takes seconds, not minutes. The result is the same table as with the key declared.
  const partitions = LAYOUTS[layout].partitions;
  await c.query(
    `CREATE TABLE ${TABLE} (id bigserial, object_id int, status_id int, start_date timestamptz)` +
      (partitions ? ' PARTITION BY RANGE (start_date)' : ''),
  );
  if (partitions) await createPartitions(c, partitions);
  await c.query(`BEGIN`);
  try {
    await c.query(`SET LOCAL enable_sort = off`);
    await c.query(
      `INSERT INTO ${TABLE} (id, object_id, status_id, start_date)
       SELECT id, object_id, status_id, start_date FROM bench_src ORDER BY id`,
    );
    await c.query(`COMMIT`);
  } catch (error) {
    await c.query(`ROLLBACK`);
    throw error;
  }
  // A partitioned table's primary key must hold the partition key.
  await c.query(`ALTER TABLE ${TABLE} ADD PRIMARY KEY (id${partitions ? ', start_date' : ''})`);
  await c.query(`SELECT setval(pg_get_serial_sequence($1, 'id'), (SELECT max(id) FROM ${TABLE}))`, [TABLE]);
  for (const statement of LAYOUTS[layout].indexSql(TABLE)) await c.query(statement);
  await vacuumUntilAllVisible(c);
  await c.query(`CHECKPOINT`).catch(() => undefined); // the copy's writes out of the way, if we may
  // Read once, so that no contender pays for a cold cache the others do not.
  await c.query(`SELECT count(*), sum(status_id) FROM ${TABLE}`);
}

/**
 * `partitions` range partitions of equal width from the earliest to the latest start_date of
 * bench_src, and a DEFAULT one for the rows added later (incremental and steady state).
 */
async function createPartitions(c: pg.Client, partitions: number): Promise<void> {
  const span = await one<{ lo: string; hi: string }>(
    c,
    `SELECT min(start_date)::text AS lo, (max(start_date) + interval '1 microsecond')::text AS hi FROM bench_src`,
  );
  for (let i = 0; i < partitions; i += 1) {
    await c.query(
      `CREATE TABLE ${TABLE}_p${i} PARTITION OF ${TABLE} FOR VALUES
         FROM ($1::timestamptz + ($2::timestamptz - $1::timestamptz) * ${i} / ${partitions})
         TO   ($1::timestamptz + ($2::timestamptz - $1::timestamptz) * ${i + 1} / ${partitions})`
        .replace(/\$1/g, `'${span.lo}'`)
        .replace(/\$2/g, `'${span.hi}'`),
    );
  }
  await c.query(`CREATE TABLE ${TABLE}_rest PARTITION OF ${TABLE} DEFAULT`);
}

/**
 * VACUUM (ANALYZE), again until the visibility map covers every page: a snapshot held
 * meanwhile by anyone (an autovacuum ANALYZE of the freshly loaded table is enough) keeps
 * VACUUM from marking the new rows all-visible, and an index-only scan then visits the heap
 * for every row, which made the same layout twice as slow from one run to the next.
 */
async function vacuumUntilAllVisible(c: pg.Client): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    await c.query(`VACUUM (ANALYZE) ${TABLE}`);
    const row = await one<{ pages: number; visible: number }>(
      c,
      // (the leaves of a partitioned table: its own pg_class row has no pages)
      `SELECT sum(relpages)::int AS pages, sum(relallvisible)::int AS visible FROM pg_class
        WHERE oid IN (SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf)`,
      [TABLE],
    );
    if (row.visible >= row.pages) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  process.stderr.write(
    `warning: ${TABLE}: VACUUM could not mark every page all-visible (a long transaction?)\n`,
  );
}

/** Consecutive duplicates left in the table (LAG over the whole history). */
export async function consecutiveDuplicates(c: pg.Client): Promise<number> {
  const row = await one<{ n: string }>(
    c,
    `SELECT count(*) AS n FROM (
       SELECT status_id, lag(status_id) OVER w AS previous, row_number() OVER w AS nth
         FROM ${TABLE} WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
      WHERE nth > 1 AND status_id IS NOT DISTINCT FROM previous`,
  );
  return Number(row.n);
}

export async function count(c: pg.Client, table: string): Promise<number> {
  const row = await one<{ n: string }>(c, `SELECT count(*) AS n FROM ${table}`);
  return Number(row.n);
}

/** Removes the true duplicates directly (for a layout where the reconciler's own pass failed). */
export async function collapseBySql(c: pg.Client, truth: string): Promise<number> {
  const res = await c.query(`DELETE FROM ${TABLE} t USING ${truth} d WHERE t.id = d.id`);
  await c.query(`VACUUM (ANALYZE) ${TABLE}`);
  return res.rowCount ?? 0;
}

/**
 * New rows since the checkpoint, stamped now (clock_timestamp(): after the last pass's
 * horizon and before the next one's), one each for as many random objects (at most one per
 * object, so that `dupShare` of them, which repeat the object's latest status, are exactly
 * the new duplicates). Then records the state before the next pass: `inc_before` (every
 * id) and `inc_truth` (the duplicates now in the table). No ANALYZE: 1% new rows is far
 * below autovacuum's threshold, so the planner's statistics are stale, as they would be.
 */
export async function addNewRows(
  c: pg.Client,
  rows: number,
  objects: number,
  dupShare: number,
): Promise<{ rows: number; duplicates: number }> {
  const inserted = await c.query(
    `WITH latest AS (
       SELECT DISTINCT ON (object_id) object_id, status_id FROM ${TABLE}
        ORDER BY object_id, start_date DESC, id DESC
     ), pick AS (
       SELECT row_number() OVER () AS g, object_id
         FROM (SELECT o AS object_id FROM generate_series(1, $1::int) o ORDER BY random() LIMIT $2) s
     )
     INSERT INTO ${TABLE} (object_id, status_id, start_date)
     SELECT p.object_id,
            CASE WHEN random() < $3 THEN l.status_id ELSE l.status_id % 6 + 1 END,
            clock_timestamp()
       FROM pick p JOIN latest l USING (object_id)
      ORDER BY p.g`,
    [objects, rows, dupShare],
  );
  await c.query(`DROP TABLE IF EXISTS inc_before, inc_truth`);
  await c.query(`CREATE UNLOGGED TABLE inc_before AS SELECT id FROM ${TABLE}`);
  await c.query(
    `CREATE UNLOGGED TABLE inc_truth AS
     SELECT id FROM (
       SELECT id, status_id, lag(status_id) OVER w AS previous, row_number() OVER w AS nth
         FROM ${TABLE} WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
      WHERE nth > 1 AND status_id IS NOT DISTINCT FROM previous`,
  );
  await c.query(`ALTER TABLE inc_before ADD PRIMARY KEY (id); ALTER TABLE inc_truth ADD PRIMARY KEY (id)`);
  await c.query(`ANALYZE inc_before; ANALYZE inc_truth`);
  return { rows: inserted.rowCount ?? 0, duplicates: await count(c, 'inc_truth') };
}

export interface PassCheck {
  /** Ids before the pass, and the ids of the true duplicates among them. */
  before: string;
  truth: string;
  archive: boolean;
  removed: number;
  succeeded: boolean;
}

/**
 * After a real pass: nothing but true duplicates left the table; kept + archived (or kept +
 * removed) = the rows before; and, if the pass succeeded, no consecutive duplicate remains.
 * Holds for a failed pass too: its committed batches must be right. Returns what is wrong.
 */
export async function checkPass(c: pg.Client, check: PassCheck): Promise<string[]> {
  const problems: string[] = [];
  const before = await count(c, check.before);
  const truth = await count(c, check.truth);
  const kept = await count(c, TABLE);
  const wronglyRemoved = await one<{ n: string }>(
    c,
    `SELECT count(*) AS n FROM ${check.before} b
      WHERE NOT EXISTS (SELECT 1 FROM ${TABLE} t WHERE t.id = b.id)
        AND NOT EXISTS (SELECT 1 FROM ${check.truth} d WHERE d.id = b.id)`,
  );
  if (Number(wronglyRemoved.n) !== 0)
    problems.push(`${wronglyRemoved.n} rows removed that were not duplicates`);
  if (check.archive) {
    const archived = await count(c, ARCHIVE);
    if (kept + archived !== before) problems.push(`kept ${kept} + archived ${archived} != ${before} before`);
    const notDuplicates = await one<{ n: string }>(
      c,
      `SELECT count(*) AS n FROM ${ARCHIVE} a WHERE NOT EXISTS (SELECT 1 FROM ${check.truth} d WHERE d.id = a.id)`,
    );
    if (Number(notDuplicates.n) !== 0) problems.push(`${notDuplicates.n} archived rows are not duplicates`);
  }
  if (kept + check.removed !== before) {
    problems.push(`kept ${kept} + removed ${check.removed} (as reported) != ${before} before`);
  }
  if (check.succeeded) {
    const left = await consecutiveDuplicates(c);
    if (left !== 0) problems.push(`${left} consecutive duplicates remain`);
    if (kept !== before - truth) problems.push(`kept ${kept}, expected ${before - truth}`);
  }
  return problems;
}

export interface ServerInfo {
  version: string;
  settings: Record<string, string>;
}

export async function serverInfo(c: pg.Client): Promise<ServerInfo> {
  const version = await one<{ v: string }>(c, `SELECT current_setting('server_version') AS v`);
  const { rows } = await c.query<{ name: string; value: string }>(
    `SELECT name, current_setting(name) AS value FROM pg_settings
      WHERE name IN ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit',
                     'fsync', 'synchronous_commit', 'random_page_cost', 'effective_cache_size')
      ORDER BY name`,
  );
  return { version: version.v, settings: Object.fromEntries(rows.map((r) => [r.name, r.value])) };
}

/** Bytes of temporary files written in this database so far (sorts that spilled to disk). */
export async function tempBytes(c: pg.Client): Promise<number> {
  // Our own session's counts (index builds, setup queries) are flushed when it next goes
  // idle, which may be seconds later: force it now, so they are not charged to a contender.
  // (PostgreSQL 15+; before that the statistics collector lags regardless.)
  await c.query(`SELECT pg_stat_force_next_flush()`).catch(() => undefined);
  await c.query(`SELECT pg_stat_clear_snapshot()`);
  const row = await one<{ n: string }>(
    c,
    `SELECT temp_bytes AS n FROM pg_stat_database WHERE datname = current_database()`,
  );
  return Number(row.n);
}
