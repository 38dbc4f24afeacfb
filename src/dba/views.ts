import { formatName, type Job } from '../config/job.js';
import { ident, qualified } from '../db/quote.js';
import { fitName } from './names.js';

export function currentViewName(job: Job): string {
  return fitName(job.table.name, '_current');
}

export function collapsedViewName(job: Job): string {
  return fitName(job.table.name, '_collapsed');
}

/** A column name for the subquery's flag that no key or orderBy column already uses. */
function flagName(job: Job): string {
  let name = 'status_changed';
  while ([...job.key, ...job.orderBy].includes(name)) name = `${name}_`;
  return name;
}

/**
 * Two views for readers, correct before the reconciler has ever run (they compute the
 * collapse themselves) and unchanged by its runs (collapsing twice changes nothing):
 *
 * - `<table>_current`: each object's last row by orderBy (DISTINCT ON).
 * - `<table>_collapsed`: the rows whose compare values differ from the previous row's
 *   (IS DISTINCT FROM: NULL equals NULL), plus each object's first row.
 *
 * Rows with a NULL key or orderBy column are left out, as the reconciler never judges them.
 *
 * The collapsed view joins the table to a LAG window over its key and orderBy columns
 * rather than selecting the window's rows directly: that keeps every column of the table
 * (printed without a database, the column list is unknown, and a flag column must not leak
 * into the view) and still lets a reader's `WHERE object_id = $1` reach both sides through
 * the key (PostgreSQL pushes a filter into a window only on its PARTITION BY columns). A
 * whole-table read costs two passes instead of one. The join is exact because key +
 * orderBy identify a row (`check` warns when nothing enforces it).
 */
export function viewStatements(job: Job): string[] {
  const table = qualified(job.table);
  const keys = job.key.map(ident);
  const orders = job.orderBy.map(ident);
  const compares = job.compare.map(ident);
  const notNull = [...keys, ...orders].map((c) => `t.${c} IS NOT NULL`).join(' AND ');
  const flag = ident(flagName(job));
  const changed = [
    'row_number() OVER w = 1',
    ...compares.map((c) => `(lag(h.${c}) OVER w) IS DISTINCT FROM h.${c}`),
  ].join(' OR ');
  const join = [...keys, ...orders].map((c) => `c.${c} = t.${c}`).join(' AND ');
  const schema = ident(job.table.schema);

  const current = `-- The current status of each object of ${formatName(job.table)}: its last row by ${job.orderBy.join(', ')}.
CREATE OR REPLACE VIEW ${schema}.${ident(currentViewName(job))} AS
SELECT DISTINCT ON (${keys.map((k) => `t.${k}`).join(', ')}) t.*
  FROM ${table} t
 WHERE ${notNull}
 ORDER BY ${[...keys.map((k) => `t.${k}`), ...orders.map((o) => `t.${o} DESC`)].join(', ')};`;

  const collapsed = `-- The history of ${formatName(job.table)} without consecutive duplicates: each object's first row
-- and every row whose ${job.compare.join(', ')} differs from the row before it (NULL equal to NULL),
-- as it will be once the reconciler has run. Joined back by key + orderBy so that it keeps
-- every column and a filter on ${job.key.join(', ')} reaches the window: only that object is read.
CREATE OR REPLACE VIEW ${schema}.${ident(collapsedViewName(job))} AS
SELECT t.*
  FROM ${table} t
  JOIN (SELECT ${[...keys, ...orders].map((c) => `h.${c}`).join(', ')},
               ${changed} AS ${flag}
          FROM ${table} h
        WINDOW w AS (PARTITION BY ${keys.map((k) => `h.${k}`).join(', ')} ORDER BY ${orders.map((o) => `h.${o}`).join(', ')})
       ) c ON ${join}
 WHERE c.${flag};`;

  return [current, collapsed];
}
