/**
 * The floor: what the job costs at least on this server, whatever the tool, per layout.
 *
 * How it is measured (the same copy of the data, the same run as the contenders):
 * (a) find: the fastest read-only statement that returns the duplicates' ids (the LAG query
 *     of the one-statement peer without its DELETE, every id sent to the client), timed over
 *     the plans that can run it:
 *     - default: the server's settings, the planner's choice;
 *     - seq scan + sort: SET LOCAL work_mem = '256MB', enable_indexscan = off,
 *       enable_bitmapscan = off, max_parallel_workers_per_gather = 0 (one in-memory sort);
 *     - parallel: the same with max_parallel_workers_per_gather = 2 and parallel_setup_cost,
 *       parallel_tuple_cost and min_parallel_table_scan_size at 0, so that the planner does
 *       take the workers (a plain SELECT can use them under a Gather Merge, a cursor cannot);
 *     - index-only: where a covering index exists (layout `include`): enable_seqscan,
 *       enable_bitmapscan and enable_sort off, so the index-only scan is taken.
 *     Each statement runs in a transaction of its own after its SET LOCALs; its plan (EXPLAIN
 *     without ANALYZE, same settings) is recorded and the count checked against the truth.
 * (b) delete: removing the precomputed duplicates' ids (truth_dup copied to a temp table,
 *     analyzed, not timed) with one DELETE ... USING it, autocommit (its commit's WAL flush
 *     included), on a fresh copy of the layout.
 * A tool that overlaps finding with deleting (two connections) is bounded below by
 * floor = max(a, b); one that finds, then deletes, by a + b. Both are reported.
 */
import type pg from 'pg';
import type { Layout } from './config.js';
import { TABLE } from './data.js';

export interface FloorPlan {
  name: string;
  seconds: number;
  found: number;
  /** The plan's nodes, top to bottom, abridged (e.g. "WindowAgg > Sort > Seq Scan"). */
  plan: string;
}

export interface FloorFind {
  plans: FloorPlan[];
  fastest: FloorPlan;
}

export interface Floor {
  find: FloorFind;
  deleteSeconds: number;
  deleted: number;
  /** max(find, delete): finding overlapped with deleting. */
  floor: number;
  /** find + delete: one after the other. */
  sum: number;
}

export function findSql(table: string): string {
  return (
    `SELECT id FROM (SELECT id, status_id, lag(status_id) OVER (PARTITION BY object_id ORDER BY start_date, id) p ` +
    `FROM ${table}) x WHERE p = status_id`
  );
}

const SEQ_SORT = [
  `SET LOCAL work_mem = '256MB'`,
  `SET LOCAL enable_indexscan = off`,
  `SET LOCAL enable_bitmapscan = off`,
];

function plansFor(layout: Layout): { name: string; settings: string[] }[] {
  const plans = [
    { name: 'default', settings: [] },
    {
      name: 'seq scan + sort (work_mem 256MB)',
      settings: [...SEQ_SORT, `SET LOCAL max_parallel_workers_per_gather = 0`],
    },
    {
      name: 'parallel (2 workers, work_mem 256MB)',
      // Costs that make the planner take the workers it would otherwise refuse (it charges
      // every row through the Gather): this plan is measured to see whether workers pay.
      settings: [
        ...SEQ_SORT,
        `SET LOCAL max_parallel_workers_per_gather = 2`,
        `SET LOCAL parallel_setup_cost = 0`,
        `SET LOCAL parallel_tuple_cost = 0`,
        `SET LOCAL min_parallel_table_scan_size = 0`,
      ],
    },
  ];
  if (layout === 'include') {
    plans.push({
      name: 'index-only scan (covering index)',
      settings: [
        `SET LOCAL enable_seqscan = off`,
        `SET LOCAL enable_bitmapscan = off`,
        `SET LOCAL enable_sort = off`,
        `SET LOCAL max_parallel_workers_per_gather = 0`,
      ],
    });
  }
  return plans;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Workers Planned'?: number;
  Plans?: PlanNode[];
}

/** The chain of nodes down the plan's first children, e.g. "WindowAgg > Gather Merge (2) > Sort". */
function summarize(node: PlanNode): string {
  const parts: string[] = [];
  let n: PlanNode | undefined = node;
  while (n) {
    let label = n['Node Type'];
    if (n['Workers Planned'] !== undefined) label += ` (${n['Workers Planned']} workers)`;
    if (n['Index Name'] !== undefined) label += ` ${n['Index Name']}`;
    // Skip the outer Subquery Scan of the query's own shape.
    if (label !== 'Subquery Scan') parts.push(label);
    n = n.Plans?.[0];
  }
  return parts.join(' > ');
}

async function inTransaction<T>(c: pg.Client, settings: string[], work: () => Promise<T>): Promise<T> {
  await c.query('BEGIN');
  try {
    for (const s of settings) await c.query(s);
    const result = await work();
    await c.query('COMMIT');
    return result;
  } catch (error) {
    await c.query('ROLLBACK');
    throw error;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

/** (a): every plan on the current (read-only) copy; `repeat` runs each, the median kept. */
export async function measureFind(c: pg.Client, layout: Layout, repeat: number): Promise<FloorFind> {
  const sql = findSql(TABLE);
  const plans: FloorPlan[] = [];
  for (const { name, settings } of plansFor(layout)) {
    const plan = await inTransaction(c, settings, async () => {
      const { rows } = await c.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) ${sql}`);
      const top = rows[0]?.['QUERY PLAN'][0]?.Plan;
      return top ? summarize(top) : '?';
    });
    const times: number[] = [];
    let found = 0;
    for (let i = 0; i < repeat; i += 1) {
      const { seconds, n } = await inTransaction(c, settings, async () => {
        const started = performance.now();
        const res = await c.query(sql);
        return { seconds: (performance.now() - started) / 1000, n: res.rowCount ?? 0 };
      });
      times.push(seconds);
      found = n;
    }
    plans.push({ name, seconds: median(times), found, plan });
  }
  const fastest = plans.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { plans, fastest };
}

/** (b): on a fresh copy, DELETE ... USING the precomputed ids; returns seconds and rows. */
export async function measureDelete(
  c: pg.Client,
  truth: string,
): Promise<{ seconds: number; deleted: number }> {
  await c.query(`DROP TABLE IF EXISTS pg_temp.floor_ids`);
  await c.query(`CREATE TEMP TABLE floor_ids AS SELECT id FROM ${truth}`);
  await c.query(`ANALYZE floor_ids`);
  const started = performance.now();
  const res = await c.query(`DELETE FROM ${TABLE} t USING floor_ids d WHERE t.id = d.id`);
  const seconds = (performance.now() - started) / 1000;
  await c.query(`DROP TABLE floor_ids`);
  return { seconds, deleted: res.rowCount ?? 0 };
}

export function combine(find: FloorFind, del: { seconds: number; deleted: number }): Floor {
  return {
    find,
    deleteSeconds: del.seconds,
    deleted: del.deleted,
    floor: Math.max(find.fastest.seconds, del.seconds),
    sum: find.fastest.seconds + del.seconds,
  };
}
