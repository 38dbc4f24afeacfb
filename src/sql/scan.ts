import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { localSettingsStatement, transactionSettings } from '../db/transaction.js';
import { shardCondition } from './shard.js';
import type { Statement } from './types.js';

/** The rows a pass judges. */
export interface ScanWindow {
  /** Rows below it, in the column's type. */
  horizon: string;
  /** The stored checkpoint an incremental pass starts from; undefined: a full pass. */
  from: string | undefined;
  /** The stored checkpoint, if any, also on a full pass (to count what incremental passes missed). */
  stored: string | undefined;
}

/**
 * The scan: one pass of LAG over each object's history below the horizon.
 *
 * Rows come back in two kinds, so the stream carries what it must and no more:
 * - every duplicate (its compare values equal its predecessor's, NULL equal to NULL), with
 *   its key and orderBy values as text (cast back exactly by the collapse statement) and
 *   the gap to the row it repeats, in seconds;
 * - the last row of each object, carrying how many rows the object had in the judged window
 *   (rows examined), so examined counts need no second scan and no whole-table count.
 *
 * Output columns, in order: key..., orderBy..., dup, gap, examined, behind, table, tid,
 * stretchFrom. The gap is NULL when either time is infinite (a '-infinity' first status): it
 * has no length. For a duplicate, `table` and `tid` are its partition and ctid (a batch locks
 * it by them: no index probe), and `stretchFrom` (`history` lookup only) the time of the
 * first row of its run of equal rows (src/sql/stretch.ts); NULL for other rows.
 *
 * Duplicates come out in physical order (partition, ctid), the rest after them: the window
 * needs the rows in (key, orderBy) order, but a batch of duplicates taken in that order on
 * a table written in time order holds one row of nearly every heap page, and every batch
 * then reads, locks and dirties most of the table again (measured at 2M rows: 4,000 pages a
 * batch of 5,000, 120 ms a batch). In physical order a batch covers a few hundred pages,
 * each read once. The sort holds back the first row until the window is done, which costs
 * little: the window's own sort held it back already.
 *
 * Incremental (`checkpoint` given): only objects with a row in [checkpoint, horizon), each
 * read from its last row before the checkpoint (the anchor, already judged, which gives the
 * first new row its predecessor). The anchor is never a duplicate (it is the first row of
 * the window) and is not counted as examined. Without a (key, orderBy) index, the touched
 * objects' whole histories in one pass over the table instead, only the new rows judged.
 *
 * A full pass with a stored checkpoint flags (`behind`) the duplicates below it: rows that
 * earlier passes had judged or should have, i.e. duplicates the incremental passes missed
 * (a middle row deleted, a row committed after the horizon passed its time).
 *
 * With shards (src/config/shard.ts) every form reads only the objects of its shard.
 *
 * Rows with a NULL key or orderBy column have no place in a history and are never judged;
 * nor are rows dated 'infinity', which no horizon passes.
 */
export function scanStatement(plan: JobPlan, rows: ScanWindow): Statement {
  const { horizon, from: checkpoint, stored } = rows;
  const t = qualified(plan.job.table);
  const time = plan.timeType;
  const keys = plan.key.map((c) => ident(c.name));
  const orders = plan.orderBy.map((c) => ident(c.name));
  const first = ident(plan.time.name);
  const window = `PARTITION BY ${keys.map((k) => `t.${k}`).join(', ')} ORDER BY ${orders.map((o) => `t.${o}`).join(', ')}`;
  const sameAsPrevious = plan.compare
    .map((c) => `(lag(t.${ident(c.name)}) OVER w) IS NOT DISTINCT FROM t.${ident(c.name)}`)
    .join(' AND ');
  // The gap, in seconds, between the outer query's duplicate (s) and the row before it: only
  // for the rows the scan sends, not for every row the window passes (at 1M rows, most of the
  // window's own cost was such per-row expressions).
  const difference =
    time === 'date'
      ? // date - date is an integer of days: times 86400 in integers overflows past 68 years
        `(s.o0 - s.previous_time)::float8 * 86400`
      : `extract(epoch FROM s.o0 - s.previous_time)::float8`;
  const gap = `CASE WHEN s.dup AND isfinite(s.o0) AND isfinite(s.previous_time) THEN ${difference} END`;
  const notNull = [...keys, ...orders].map((c) => `t.${c} IS NOT NULL`).join(' AND ');

  let from: string;
  let examined: string;
  let behind = 'false';
  let judged = 'true';
  const values: unknown[] = [horizon];
  if (checkpoint !== undefined && plan.predecessorLookup === 'history') {
    // No (key, orderBy) index (see src/reconcile/predecessorLookup.ts): reading each touched
    // object through LATERAL would scan the table once per object. One pass over the table
    // instead, keeping the touched objects' whole histories (a hash semi-join), of which
    // only the rows from the checkpoint on are judged and counted; the rows before give the
    // first new row its predecessor, as the anchor does below.
    values.push(checkpoint);
    const tuple = (alias: string) => `(${keys.map((k) => `${alias}.${k}`).join(', ')})`;
    from = `${t} t WHERE t.${first} < $1::${time} AND ${notNull}
        AND ${tuple('t')} IN (SELECT ${keys.map((k) => `n.${k}`).join(', ')} FROM ${t} n
             WHERE n.${first} >= $2::${time} AND n.${first} < $1::${time} AND ${shardCondition(plan, 'n')})`;
    examined = `count(*) FILTER (WHERE t.${first} >= $2::${time}) OVER w`;
    judged = `t.${first} >= $2::${time}`;
  } else if (checkpoint === undefined) {
    from = `${t} t WHERE t.${first} < $1::${time} AND ${notNull} AND ${shardCondition(plan, 't')}`;
    examined = 'count(*) OVER w';
    if (stored !== undefined) {
      values.push(stored);
      behind = `t.${first} < $2::${time}`;
    }
  } else {
    values.push(checkpoint);
    const touchedKeys = keys.map((k) => `n.${k}`).join(', ');
    const sameKey = (alias: string) => keys.map((k) => `${alias}.${k} = touched.${k}`).join(' AND ');
    // The lateral row's partition and ctid under the names of the system columns, so that
    // `t.tableoid` and `t.ctid` below mean the same in both forms.
    const compareColumns = [
      ...plan.compare.map((c) => `r.${ident(c.name)}`),
      'r.tableoid AS tableoid',
      'r.ctid AS ctid',
    ]
      .map((c) => `, ${c}`)
      .join('');
    // Written as LATERAL so each touched object reads its own rows through the
    // (key, orderBy) index; as a plain join the planner may pick a hash join over the
    // whole table once many objects are touched.
    const columns = [...keys, ...orders].map((c) => `r.${c}`).join(', ');
    from = `(SELECT DISTINCT ${touchedKeys} FROM ${t} n
             WHERE n.${first} >= $2::${time} AND n.${first} < $1::${time}
               AND ${keys.map((k) => `n.${k} IS NOT NULL`).join(' AND ')} AND ${shardCondition(plan, 'n')}) touched
      CROSS JOIN LATERAL (SELECT max(a.${first}) AS since FROM ${t} a
             WHERE ${sameKey('a')} AND a.${first} < $2::${time}) anchor
      CROSS JOIN LATERAL (SELECT ${columns}${compareColumns} FROM ${t} r
             WHERE ${sameKey('r')}
               AND r.${first} >= coalesce(anchor.since, $2::${time}) AND r.${first} < $1::${time}) t
      WHERE ${notNull}`;
    examined = `count(*) FILTER (WHERE t.${first} >= $2::${time}) OVER w`;
  }

  const columns = [...keys.map((k, i) => `t.${k} AS k${i}`), ...orders.map((o, i) => `t.${o} AS o${i}`)];
  const outer = [...keys.map((_, i) => `s.k${i}`), ...orders.map((_, i) => `s.o${i}`)];
  // `history` lookup only (src/sql/stretch.ts): the time of the first row of each duplicate's
  // run of equal rows, the row it repeats as the history will keep it. A second window over
  // the first's output, in the same order: no second sort.
  const stretchFrom =
    plan.predecessorLookup === 'history'
      ? `max(CASE WHEN NOT r.dup THEN r.o0 END) OVER (PARTITION BY ${keys.map((_, i) => `r.k${i}`).join(', ')}
             ORDER BY ${orders.map((_, i) => `r.o${i}`).join(', ')} ROWS UNBOUNDED PRECEDING)`
      : `NULL::${plan.time.type}`;
  return {
    text: `
SELECT ${outer.join(', ')}, s.dup, ${gap}, s.examined, s.dup AND s.behind,
       CASE WHEN s.dup THEN s.toid END, CASE WHEN s.dup THEN s.tid END, CASE WHEN s.dup THEN s.stretch_from::text END
  FROM (
  SELECT r.*, ${stretchFrom} AS stretch_from FROM (
  SELECT ${columns.join(', ')},
         (row_number() OVER w > 1 AND ${judged} AND ${sameAsPrevious}) AS dup,
         lag(t.${first}) OVER w AS previous_time,
         CASE WHEN (lead(true) OVER w) IS NULL THEN ${examined} END AS examined,
         ${behind} AS behind,
         t.tableoid AS toid, t.ctid AS tid
    FROM ${from}
  WINDOW w AS (${window})
) r
) s
WHERE s.dup OR s.examined IS NOT NULL
ORDER BY ${outer.length + 5}, ${outer.length + 6}`,
    values,
  };
}

/**
 * Opens the scan's snapshot: one REPEATABLE READ READ ONLY transaction for the whole stream.
 * The scan may be long and sits idle while a batch commits, so no role or database default
 * may kill it. pg-cursor fetches in portions, which runs any parallel plan without workers,
 * so the planner costs plans without them. Our formats and the job's TimeZone, as every
 * transaction of ours sets them (src/db/transaction.ts), so the text it streams casts back
 * the same in the batches.
 *
 * A full pass reads the whole table once in (key, orderBy) order: left to itself the
 * planner walks the (key, orderBy) index, which on a table written in time order fetches a
 * different heap page for nearly every row. A sequential scan and a sort is the faster plan
 * at every size and index layout the benchmark measured (issue #10: at 2M rows, 1.7-2.4 s
 * against 2.6-7.1 s for the index scan on this machine; BENCHMARKS.md has the runs), so a full pass turns
 * index and bitmap scans off for its transaction. The sort spills to disk past work_mem,
 * which measured no slower than a sort in memory. An incremental pass keeps the planner's
 * choice: it reads a few objects through the index.
 */
export function openScanSnapshotStatements(timeZone: string | undefined, full: boolean): Statement[] {
  return [
    { text: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', values: [] },
    localSettingsStatement([
      ...transactionSettings(timeZone),
      ['statement_timeout', '0'],
      ['idle_in_transaction_session_timeout', '0'],
      ['transaction_timeout', '0'],
      // A role's lock_timeout would fail the scan at once behind any table lock (DDL, a
      // CREATE INDEX): it waits instead, bounded by the run's deadline (runTimeout).
      ['lock_timeout', '0'],
      ['max_parallel_workers_per_gather', '0'],
      ...(full
        ? ([
            ['enable_indexscan', 'off'],
            ['enable_indexonlyscan', 'off'],
            ['enable_bitmapscan', 'off'],
          ] as [string, string][])
        : []),
    ]),
  ];
}

/**
 * The planner's row and page estimates of the table (pg_class.reltuples, relpages), for a full
 * pass's time left; a partitioned table's own row has no pages.
 */
export function estimatedRowsStatement(plan: JobPlan): Statement {
  return {
    text: `SELECT greatest(reltuples, 0)::bigint::text AS n, relpages AS pages FROM pg_catalog.pg_class WHERE oid = $1::regclass`,
    values: [qualified(plan.job.table)],
  };
}
