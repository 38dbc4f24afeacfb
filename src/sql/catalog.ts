import type { QualifiedName } from '../config/job.js';
import type { Statement } from './types.js';

/*
 * Catalog lookups. Names go as values, compared with the catalog's own spelling: no
 * text-to-regclass parsing, so a name is taken literally and case-sensitively, as job
 * files promise.
 */

/** `oid` and `relkind` of a relation by schema and name (any kind); no row when absent. */
export function findRelationStatement(name: QualifiedName): Statement {
  return {
    text: `SELECT c.oid, c.relkind::text AS relkind, c.relnamespace AS nsp
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2`,
    values: [name.schema, name.name],
  };
}

/** The columns of a relation, in order: name, exact type (typmod included) and type name. */
export function tableColumnsStatement(oid: number): Statement {
  return {
    text: `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname AS "typeName"
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum`,
    values: [oid],
  };
}

/** One row when the schema exists. */
export function schemaExistsStatement(schema: string): Statement {
  return { text: `SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, values: [schema] };
}

/**
 * Sets the session TimeZone; with `local` only until the transaction ends. The server
 * itself checks the name (zone names, abbreviations and POSIX specs all count).
 */
export function setTimeZoneStatement(timeZone: string, local: boolean): Statement {
  return { text: `SELECT set_config('TimeZone', $1, $2)`, values: [timeZone, local] };
}
