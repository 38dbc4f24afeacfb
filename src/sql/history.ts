import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { filterConditions, type ArchiveFilter } from './archiveFilter.js';
import type { Statement } from './types.js';

/** One row of an object's history, kept or archived, as `history` prints it. */
export interface HistoryRowText {
  archived: boolean;
  /**
   * The row as a JSON object, built by the server (row_to_json): its columns by name in
   * table order, then `archived` (and an archived row's `archived_at`, `repeated_id`). Text,
   * so bigint and numeric values and microseconds reach stdout exactly as PostgreSQL wrote
   * them (JSON.parse would round a bigint past 2^53).
   */
  doc: string;
  /** Each column of the history table as text (NULL as null), for the terminal's table. */
  cells: (string | null)[];
  archived_at: string | null;
  repeated_id: string | null;
}

/**
 * One object's rows, those kept in the history table and (`archiveColumns` given: the
 * archive's columns, in order) those archived, in the job's orderBy order; a kept row before
 * an archived one with the same orderBy values, which only a broken tie-breaker allows.
 * The archived rows show the archive's own columns (the values it holds); their cells follow
 * the table's columns, NULL where the archive has no such column. The archive's orderBy
 * values are cast to the table's types so the two sort as one.
 */
export function historyStatement(
  plan: JobPlan,
  filter: ArchiveFilter,
  archiveColumns: string[] | undefined,
): Statement {
  const columns = plan.columns.map((c) => ident(c.name));
  const kept = filterConditions('t', plan.key, filter, 1, false);
  const keptBranch = `SELECT ${plan.orderBy.map((o, i) => `t.${ident(o.name)} AS o${i}`).join(', ')},
         false AS archived, row_to_json(r)::text AS doc,
         ARRAY[${columns.map((c) => `t.${c}::text`).join(', ')}]::text[] AS cells,
         NULL::text AS archived_at, NULL::text AS repeated_id
    FROM ${qualified(plan.job.table)} t
   CROSS JOIN LATERAL (SELECT ${columns.map((c) => `t.${c}`).join(', ')}, false AS archived) r
   WHERE ${kept.where}`;
  if (archiveColumns === undefined) {
    return {
      text: `${keptBranch}\n ORDER BY ${plan.orderBy.map((_, i) => `o${i}`).join(', ')}`,
      values: kept.values,
    };
  }
  const own = archiveColumns.filter((c) => c !== ARCHIVED_AT && c !== REPEATED_ID).map(ident);
  const has = new Set(archiveColumns);
  const archived = filterConditions('a', plan.key, filter, 1, false);
  const archivedBranch = `SELECT ${plan.orderBy.map((o) => `a.${ident(o.name)}::${o.type}`).join(', ')},
         true, row_to_json(r)::text,
         ARRAY[${plan.columns.map((c) => (has.has(c.name) ? `a.${ident(c.name)}::text` : 'NULL::text')).join(', ')}]::text[],
         a.${ident(ARCHIVED_AT)}::text, a.${ident(REPEATED_ID)}::text
    FROM ${qualified(plan.job.archiveTable!)} a
   CROSS JOIN LATERAL (SELECT ${[...own.map((c) => `a.${c}`), 'true AS archived', `a.${ident(ARCHIVED_AT)}`, `a.${ident(REPEATED_ID)}`].join(', ')}) r
   WHERE ${archived.where}`;
  return {
    text: `SELECT archived, doc, cells, archived_at, repeated_id FROM (
  ${keptBranch}
  UNION ALL
  ${archivedBranch}
) h
 ORDER BY ${[...plan.orderBy.map((_, i) => `o${i}`), 'archived'].join(', ')}`,
    values: kept.values,
  };
}
