import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import type { Statement } from './types.js';

/** One duplicate found by the scan: its key and orderBy values, as text. */
export interface DuplicateRef {
  key: string[];
  orderBy: string[];
}

/**
 * Removes (or archives) one batch of duplicates, re-verifying each in the same statement:
 * a row goes only if its CURRENT predecessor (by orderBy, same key) still has equal compare
 * values. The scan judged it from a snapshot; a row that landed in between since then (or a
 * predecessor someone else removed) is seen here, and the row is then kept.
 *
 * The predecessor is locked FOR SHARE: should someone else be deleting or updating it in
 * a transaction still open, the batch waits for it (up to lock_timeout) and then judges
 * against what that transaction left, instead of against a row about to disappear.
 *
 * In archive mode the DELETE ... RETURNING feeds the INSERT in the same statement, so a row
 * is never in both tables nor in neither, whatever fails. Its archive copy records when, and
 * the last orderBy value (the unique id) of the row it repeated.
 *
 * The statement's rowCount is the number of rows removed.
 */
export function collapseStatement(plan: JobPlan, batch: DuplicateRef[]): Statement {
  const t = qualified(plan.job.table);
  const keys = plan.key.map((c) => ident(c.name));
  const orders = plan.orderBy.map((c) => ident(c.name));
  const last = ident(plan.tieBreaker.name);
  const batchColumns = [...keys.map((_, i) => `k${i}`), ...orders.map((_, i) => `o${i}`)];
  const arrays = [...plan.key, ...plan.orderBy].map((c, i) => `$${i + 1}::${c.type}[]`);
  const values: unknown[] = [
    ...plan.key.map((_, i) => batch.map((d) => d.key[i])),
    ...plan.orderBy.map((_, i) => batch.map((d) => d.orderBy[i])),
  ];
  const matchBatch = [
    ...keys.map((k, i) => `t.${k} = b.k${i}`),
    ...orders.map((o, i) => `t.${o} = b.o${i}`),
  ].join(' AND ');
  const predecessorCompare = plan.compare.map((c, i) => `p.${ident(c.name)} AS pc${i}`);
  const sameCompare = plan.compare
    .map((c, i) => `p.pc${i} IS NOT DISTINCT FROM t.${ident(c.name)}`)
    .join(' AND ');

  const doomed = `
WITH batch AS (
  SELECT * FROM unnest(${arrays.join(', ')}) AS b(${batchColumns.join(', ')})
), doomed AS (
  SELECT t.tableoid AS doomed_table, t.ctid AS doomed_tid, p.repeated AS doomed_repeated
    FROM batch b
    JOIN ${t} t ON ${matchBatch}
    CROSS JOIN LATERAL (
      SELECT ${predecessorCompare.join(', ')}, p.${last} AS repeated FROM ${t} p
       WHERE ${keys.map((k) => `p.${k} = t.${k}`).join(' AND ')}
         AND (${orders.map((o) => `p.${o}`).join(', ')}) < (${orders.map((o) => `t.${o}`).join(', ')})
       ORDER BY ${orders.map((o) => `p.${o} DESC`).join(', ')}
       LIMIT 1
       FOR SHARE
    ) p
   WHERE ${sameCompare}
)`;
  // ctid is unique only within one relation: on a partitioned table the partition
  // (tableoid) must match too, or a row at the same position in another partition goes.
  const del = `DELETE FROM ${t} t USING doomed d WHERE t.tableoid = d.doomed_table AND t.ctid = d.doomed_tid`;

  if (plan.job.mode === 'delete') return { text: `${doomed}\n${del}`, values };

  const archive = qualified(plan.job.archiveTable!);
  const columns = plan.columns.map((c) => ident(c.name));
  return {
    text: `${doomed}, moved AS (
  ${del}
  RETURNING ${columns.map((c) => `t.${c}`).join(', ')}, d.doomed_repeated
)
INSERT INTO ${archive} (${columns.join(', ')}, ${ident(ARCHIVED_AT)}, ${ident(REPEATED_ID)})
SELECT ${columns.join(', ')}, now(), doomed_repeated FROM moved`,
    values,
  };
}
