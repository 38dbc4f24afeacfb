import { ARCHIVED_AT, type ColumnInfo } from '../db/plan.js';
import { ident } from '../db/quote.js';
import type { Statement } from './types.js';

/*
 * What `history` and `restore` select by: one object's key, typed on the command line as
 * text, and (restore) a window of archived_at. The server casts the text, so a value means
 * exactly what it means in SQL (`'7'::integer`, `'2026-12-01'::timestamptz` in the session's
 * TimeZone), and a value it refuses is refused before anything is read or changed.
 */

/**
 * `value`: the text cast to `type` and back (its canonical form, for messages). `type` is
 * format_type() of a catalog column: already a quoted, valid type name.
 */
export function castTextStatement(type: string, value: string): Statement {
  return { text: `SELECT ($1::text)::${type}::text AS value`, values: [value] };
}

/**
 * A --key value cast to its column's type (`value`), and whether the column's type keeps it
 * whole (`exact`): a typmod truncates or rounds without a word (varchar(4) takes 'acmeXYZ' as
 * 'acme', numeric(6,0) takes 1.4 as 1), and the command would then act on another object
 * (review of #12). Compared with the value cast to the type without its modifier.
 */
export function keyCastStatement(column: { type: string; typeName: string }, value: string): Statement {
  return {
    text: `SELECT ($1::text)::${column.type}::text AS value,
                  ($1::text)::${column.typeName} = ($1::text)::${column.type} AS exact`,
    values: [value],
  };
}

/** `ordered`: whether since comes before until, both as timestamptz. */
export function windowOrderedStatement(since: string, until: string): Statement {
  return { text: `SELECT $1::timestamptz < $2::timestamptz AS ordered`, values: [since, until] };
}

/** The rows to select: one object's key (as typed, in key order), a window of archived_at. */
export interface ArchiveFilter {
  key: string[] | undefined;
  /** Canonical timestamptz text (castTextStatement), inclusive. */
  since: string | undefined;
  /** Canonical timestamptz text, exclusive. */
  until: string | undefined;
}

/**
 * The WHERE conditions of a filter on `alias` (true when it selects everything), its values
 * numbered from `$first`. Key values are cast to the history table's column types: the
 * archive's own columns normally have those types, and otherwise compare through the usual
 * implicit casts. The window applies to archived rows only (`withWindow`).
 */
export function filterConditions(
  alias: string,
  key: ColumnInfo[],
  filter: ArchiveFilter,
  first: number,
  withWindow: boolean,
): { where: string; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${first + values.length - 1}`;
  };
  if (filter.key !== undefined) {
    key.forEach((column, i) => {
      conditions.push(`${alias}.${ident(column.name)} = ${param(filter.key?.[i])}::${column.type}`);
    });
  }
  if (withWindow && filter.since !== undefined) {
    conditions.push(`${alias}.${ident(ARCHIVED_AT)} >= ${param(filter.since)}::timestamptz`);
  }
  if (withWindow && filter.until !== undefined) {
    conditions.push(`${alias}.${ident(ARCHIVED_AT)} < ${param(filter.until)}::timestamptz`);
  }
  return { where: conditions.length > 0 ? conditions.join(' AND ') : 'true', values };
}
