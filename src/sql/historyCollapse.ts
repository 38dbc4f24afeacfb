import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { sameRow, type DuplicateRef, type LockedRow } from './batchRows.js';
import { routeCondition } from './citus.js';
import { inRanges, type TimeRange } from './stretch.js';

/*
 * The first steps of the removing statement (src/sql/collapse.ts) for the `history` lookup
 * (src/reconcile/predecessorLookup.ts: no (key, orderBy) index): each duplicate's current
 * predecessor, found in one read of its batch's stretches (src/sql/stretch.ts), and the
 * duplicate locked. Every step joins by position in a window or by ctid in a LATERAL
 * subquery, never by a join the planner sizes from its estimates: its estimate of rows
 * locked FOR UPDATE is one row, and a nested loop over 5,000 duplicates and 17,000 rows of
 * their stretches took 14 s a batch (measured at 1M rows, layout `pkbrin`).
 *
 * 1. `b`: the batch as the scan found it (place, key, orderBy, partition, ctid, stretchFrom).
 * 2. `history`: every row of the batch's objects in its stretches, with the row before it
 *    there (partition, ctid, time), by a window.
 * 3. `placed`: each duplicate after its own row in the history (the same key and orderBy,
 *    sorted after it by a second window over both): the row there must be the one at the
 *    ctid the scan saw, and the row before that must lie in the duplicate's own stretch,
 *    else what precedes it is unknown and it is kept.
 * 4. `locked`: each placed duplicate locked FOR UPDATE SKIP LOCKED by its ctid, if it still
 *    has the key and orderBy the scan read (a row updated since has moved elsewhere).
 * The statement then locks each predecessor FOR SHARE by its ctid (collapse.ts), and a row
 * changed since this statement began no longer matches: the duplicate is kept.
 */

export interface Stretches {
  /** The union of the batch's stretches (stretchRangesStatement). */
  ranges: readonly TimeRange[];
  /** The whole batch as the scan found it, in the places the statement's `ord` refers to. */
  batch: readonly DuplicateRef[];
}

export interface HistoryCtes {
  /** The CTEs, each followed by a comma. */
  ctes: string;
  values: unknown[];
  /**
   * `lockHere`: the places of the duplicates the statement did not pass over as locked by
   * someone else (locked here, or no longer duplicates of anything the batch read).
   */
  handled: string;
}

/**
 * The CTEs up to `locked` (every column of the table, and sr_ord, sr_toid, sr_tid, sr_ptoid,
 * sr_ptid: the place, partition and ctid of the row and of its predecessor, named so that no
 * column of the table can take their names: review of #10, a column named "tid"). `held`: the places locked by an earlier statement of the batch (a referenced
 * table); only they may go. Without it this statement takes the locks.
 */
export function historyCtes(plan: JobPlan, stretches: Stretches, held?: readonly LockedRow[]): HistoryCtes {
  const t = qualified(plan.job.table);
  const keys = plan.key.map((c) => ident(c.name));
  const orders = plan.orderBy.map((c) => ident(c.name));
  const kb = plan.key.map((_, i) => `k${i}`);
  const ob = plan.orderBy.map((_, i) => `o${i}`);
  const time = plan.time.type;
  const batch = stretches.batch;

  const arrays = ['$1::int4[]', ...[...plan.key, ...plan.orderBy].map((c, i) => `$${i + 2}::${c.type}[]`)];
  const n = arrays.length;
  arrays.push(`$${n + 1}::oid[]`, `$${n + 2}::tid[]`, `$${n + 3}::${time}[]`);
  const values: unknown[] = [
    batch.map((_, i) => i),
    ...plan.key.map((_, i) => batch.map((d) => d.key[i])),
    ...plan.orderBy.map((_, i) => batch.map((d) => d.orderBy[i])),
    batch.map((d) => d.table),
    batch.map((d) => d.tid),
    batch.map((d) => d.stretchFrom ?? '-infinity'),
  ];
  const ranges = inRanges(plan, stretches.ranges, values.length + 1);
  values.push(...ranges.values);
  let heldFilter = '';
  if (held !== undefined) {
    values.push(held.map((r) => r.ord));
    heldFilter = `\n     AND x.ord = ANY ($${values.length}::int4[])`;
  }

  const notNull = orders.map((o) => `h.${o} IS NOT NULL`).join(' AND ');
  const window = `PARTITION BY ${keys.map((k) => `h.${k}`).join(', ')} ORDER BY ${orders.map((o) => `h.${o}`).join(', ')}`;
  const placedWindow = `PARTITION BY ${kb.map((k) => `u.${k}`).join(', ')} ORDER BY ${ob.map((o) => `u.${o}`).join(', ')}, u.side`;
  const lagged = ['htoid', 'htid', 'ptoid', 'ptid', 'ptime'];
  const columns = plan.columns.map((c) => `t.${ident(c.name)}`).join(', ');
  const lock = held === undefined ? 'FOR UPDATE OF t SKIP LOCKED' : 'FOR UPDATE OF t';

  const ctes = `b AS MATERIALIZED (
  SELECT * FROM unnest(${arrays.join(', ')}) AS b(ord, ${[...kb, ...ob].join(', ')}, toid, tid, sf)
), history AS MATERIALIZED (
  SELECT ${keys.map((k, i) => `h.${k} AS ${kb[i]}`).join(', ')}, ${orders.map((o, i) => `h.${o} AS ${ob[i]}`).join(', ')},
         h.tableoid AS htoid, h.ctid AS htid, lag(h.tableoid) OVER w AS ptoid, lag(h.ctid) OVER w AS ptid,
         lag(h.${ident(plan.time.name)}) OVER w AS ptime
    FROM ${t} h
   WHERE (${keys.map((k) => `h.${k}`).join(', ')}) IN (SELECT ${kb.map((k) => `b.${k}`).join(', ')} FROM b)
     AND ${notNull}
     AND ${ranges.condition}${routeCondition(plan, 'h', batch)}
  WINDOW w AS (${window})
), placed AS MATERIALIZED (
  SELECT x.* FROM (
    SELECT u.side, u.ord, u.sf, u.toid, u.tid, ${[...kb, ...ob].map((c) => `u.${c}`).join(', ')},
           ${lagged.map((c) => `lag(u.${c}) OVER v AS ${c}`).join(', ')}
      FROM (SELECT ${[...kb, ...ob].join(', ')}, 0 AS side, NULL::int4 AS ord, NULL::${time} AS sf,
                   NULL::oid AS toid, NULL::tid AS tid, ${lagged.join(', ')}
              FROM history
            UNION ALL
            SELECT ${[...kb, ...ob].join(', ')}, 1, ord, sf, toid, tid, NULL::oid, NULL::tid, NULL::oid, NULL::tid, NULL::${time}
              FROM b) u
    WINDOW v AS (${placedWindow})
  ) x
   WHERE x.side = 1 AND x.htoid = x.toid AND x.htid = x.tid AND x.ptime >= x.sf${heldFilter}
), locked AS MATERIALIZED (
  SELECT x.ord AS sr_ord, x.ptoid AS sr_ptoid, x.ptid AS sr_ptid, t.*
    FROM placed x
    CROSS JOIN LATERAL (
      SELECT t.tableoid AS sr_toid, t.ctid AS sr_tid, ${columns} FROM ${t} t
       WHERE t.tableoid = x.toid AND t.ctid = x.tid AND ${sameRow(plan, 'x')}${routeCondition(plan, 't', batch)}
       ${lock}
    ) t
), `;
  return {
    ctes,
    values,
    handled: `ARRAY(SELECT ord FROM b EXCEPT (SELECT ord FROM placed EXCEPT SELECT sr_ord FROM locked) ORDER BY 1)`,
  };
}
