/*
 * The checks, computed here in SQL, independently of the reconciler: no consecutive
 * duplicate is left and every row written is either still in the history or in the archive.
 */
import type pg from 'pg';
import type { JobResult } from '../src/reconcile/result.js';
import { ARCHIVE, BEFORE, TABLE, count, countRows } from './database.js';
import { n } from './output.js';

export interface Check {
  ok: boolean;
  label: string;
  detail: string;
}

/** Rows of `table` whose status equals the row before it (same object), by LAG. */
function duplicatesSql(table: string): string {
  return `SELECT id FROM (
            SELECT id, status_id,
                   lag(status_id) OVER w AS previous, row_number() OVER w AS position
              FROM ${table}
            WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
           WHERE position > 1 AND previous IS NOT DISTINCT FROM status_id`;
}

export async function runChecks(db: pg.Client, written: number, result: JobResult): Promise<Check[]> {
  const before = await countRows(db, BEFORE);
  const expected = await count(db, `SELECT count(*) FROM (${duplicatesSql(BEFORE)}) d`);
  const left = await count(db, `SELECT count(*) FROM (${duplicatesSql(TABLE)}) d`);
  const kept = await countRows(db, TABLE);
  const archived = await countRows(db, ARCHIVE);
  // Exactly the LAG duplicates of the copy went to the archive, and nothing else moved.
  const misplaced = await count(
    db,
    `SELECT count(*) FROM (
       (SELECT id FROM ${ARCHIVE} EXCEPT SELECT id FROM (${duplicatesSql(BEFORE)}) d)
       UNION ALL
       (SELECT id FROM (${duplicatesSql(BEFORE)}) d EXCEPT SELECT id FROM ${ARCHIVE})
       UNION ALL
       (SELECT id FROM ${BEFORE} EXCEPT SELECT id FROM ${TABLE}
        EXCEPT SELECT id FROM ${ARCHIVE})) x`,
  );
  return [
    {
      ok: result.duplicatesFound > 0 && result.duplicatesFound === expected,
      label: 'reconciler found every duplicate',
      detail: `${n(result.duplicatesFound)} found, ${n(expected)} counted by LAG before the pass`,
    },
    {
      ok: left === 0,
      label: 'no consecutive duplicate remains',
      detail: `${n(left)} left by LAG over ${TABLE}`,
    },
    {
      ok: kept + archived === written && before === written,
      label: 'kept + archived = written',
      detail: `${n(kept)} + ${n(archived)} = ${n(kept + archived)} (written: ${n(written)})`,
    },
    {
      ok: misplaced === 0 && archived === result.duplicatesRemoved,
      label: 'archived exactly the duplicates',
      detail: misplaced === 0 ? 'every real transition kept' : `${n(misplaced)} rows in the wrong place`,
    },
  ];
}
