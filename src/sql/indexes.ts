import type { Statement } from './types.js';

/**
 * The indexes of a table (by oid), by name: access method, unique, partial (a WHERE
 * clause), valid, the key columns in order (the first indnkeyatts of indkey: INCLUDE
 * columns left out; a NULL name for an expression, attnum 0) and, per key column, whether
 * it is DESC (bit 0 of indoption).
 */
export function tableIndexesStatement(table: number): Statement {
  return {
    text: `SELECT ic.relname AS name, am.amname AS method, i.indisunique AS "unique",
            i.indpred IS NOT NULL AS partial, i.indisvalid AS valid,
            ARRAY(SELECT a.attname::text
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                    LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) AS columns,
            ARRAY(SELECT (o.opt & 1) = 1
                    FROM unnest(i.indoption::int2[]) WITH ORDINALITY AS o(opt, ord)
                   ORDER BY o.ord) AS descending
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_catalog.pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = $1
      ORDER BY ic.relname`,
    values: [table],
  };
}

/** `relname`: the relations of a schema (by oid) whose names start with `prefix`. */
export function relationNamesStartingWithStatement(namespace: number, prefix: string): Statement {
  return {
    text: `SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = $1 AND left(relname, $2) = $3`,
    values: [namespace, prefix.length, prefix],
  };
}
