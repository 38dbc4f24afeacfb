import { formatName } from '../config/job.js';
import { ARCHIVED_AT, REPEATED_ID } from '../db/plan.js';
import type { ObjectHistory } from '../reconcile/history.js';

/**
 * `--json`: an array, one element per row, each the object the server built (row_to_json),
 * passed through as text so that no value is rounded on the way (src/sql/history.ts).
 */
export function renderHistoryJson(history: ObjectHistory): string {
  if (history.rows.length === 0) return '[]\n';
  return `[\n${history.rows.map((r) => `  ${r.doc}`).join(',\n')}\n]\n`;
}

/** The object's key as typed: `object_id = 7`, or `tenant = acme, object_id = 7`. */
export function describeKey(history: ObjectHistory, key: string[]): string {
  return history.plan.key.map((c, i) => `${c.name} = ${key[i] ?? ''}`).join(', ');
}

/** For a terminal: a header, one line a row (its columns, kept or archived, when, what it repeats), a count. */
export function renderHistoryTable(history: ObjectHistory, key: string[]): string {
  const { plan, rows } = history;
  const job = plan.job;
  const archive = history.source === 'archive' ? `, archived rows from ${formatName(job.archiveTable!)}` : '';
  const header =
    `job "${job.name}": ${describeKey(history, key)}, rows of ${formatName(job.table)}${archive}, ` +
    `in order of ${plan.orderBy.map((c) => c.name).join(', ')}`;
  const withArchive = history.source === 'archive';
  const titles = [
    ...plan.columns.map((c) => c.name),
    'row',
    ...(withArchive ? [ARCHIVED_AT, REPEATED_ID] : []),
  ];
  const lines = rows.map((r) => [
    ...r.cells.map((cell) => cell ?? 'NULL'),
    r.archived ? 'archived' : 'kept',
    ...(withArchive ? [r.archived_at ?? '', r.repeated_id ?? ''] : []),
  ]);
  const widths = titles.map((t, i) => Math.max(t.length, ...lines.map((l) => (l[i] ?? '').length)));
  const format = (cells: string[]): string =>
    `  ${cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}`;
  const archived = rows.filter((r) => r.archived).length;
  const count =
    `${rows.length} row(s): ${rows.length - archived} kept` + (withArchive ? `, ${archived} archived` : '');
  return [header, format(titles), ...lines.map(format), count].join('\n') + '\n';
}
