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

/*
 * What a type can do, as PostgreSQL's own type cache decides it (DISTINCT, GROUP BY, window
 * partitions, and equality inside arrays and records all ask it): a type has an equality
 * operator when it has a default btree or hash operator class, and an ordering when it has
 * a default btree one (its own, or one of a type it is binary-coercible to, as varchar to
 * text). Domains are their base type; arrays need it of their element type, composite types
 * of every field; enums, ranges and multiranges always have both.
 */
const DEFAULT_OPCLASS = (methods: string) => `EXISTS (
           SELECT 1 FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am m ON m.oid = o.opcmethod
            WHERE o.opcdefault AND m.amname IN (${methods})
              AND (o.opcintype = p.type OR EXISTS (
                   SELECT 1 FROM pg_catalog.pg_cast k
                    WHERE k.castsource = p.type AND k.casttarget = o.opcintype
                      AND k.castmethod = 'b' AND k.castcontext = 'i')))`;

/**
 * For each named column of the table: its type, whether it has an equality operator and an
 * ordering (above), and the types within it that lack one (`json` for a `json[]` column).
 */
export function columnOperatorsStatement(table: QualifiedName, columns: string[]): Statement {
  return {
    text: `WITH RECURSIVE col AS (
  SELECT a.attnum, a.attname::text AS name, a.atttypid AS type
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = ANY ($3::text[])
     AND a.attnum > 0 AND NOT a.attisdropped
), part AS (
  SELECT c.name, c.type FROM col c
  UNION
  SELECT p.name, x.type
    FROM part p JOIN pg_catalog.pg_type t ON t.oid = p.type
   CROSS JOIN LATERAL (
     SELECT t.typbasetype WHERE t.typtype = 'd'
     UNION ALL SELECT t.typelem WHERE t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1
     UNION ALL SELECT f.atttypid FROM pg_catalog.pg_attribute f
                WHERE t.typtype = 'c' AND f.attrelid = t.typrelid AND f.attnum > 0 AND NOT f.attisdropped
   ) x(type)
), leaf AS (
  SELECT p.name, p.type,
         t.typtype IN ('e', 'r', 'm') OR ${DEFAULT_OPCLASS(`'btree'`)} AS ordering,
         t.typtype IN ('e', 'r', 'm') OR ${DEFAULT_OPCLASS(`'btree', 'hash'`)} AS equality
    FROM part p JOIN pg_catalog.pg_type t ON t.oid = p.type
   WHERE t.typtype NOT IN ('d', 'c') AND NOT (t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1)
)
SELECT c.name, format_type(c.type, NULL) AS type,
       coalesce(bool_and(l.equality), true) AS equality,
       coalesce(bool_and(l.ordering), true) AS ordering,
       coalesce(string_agg(DISTINCT format_type(l.type, NULL), ', ') FILTER (WHERE NOT l.equality), '')
         AS "withoutEquality",
       coalesce(string_agg(DISTINCT format_type(l.type, NULL), ', ') FILTER (WHERE NOT l.ordering), '')
         AS "withoutOrdering"
  FROM col c LEFT JOIN leaf l ON l.name = c.name
 GROUP BY c.attnum, c.name, c.type
 ORDER BY c.attnum`,
    values: [table.schema, table.name, columns],
  };
}

/**
 * The columns of a relation with what an INSERT that leaves them out gives them: `notNull`,
 * `hasDefault` (its own or its domain's), `identity` ('a' always, 'd' by default, '') and
 * `generated` ('s' stored, '').
 */
export function insertColumnsStatement(oid: number): Statement {
  return {
    text: `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull",
                  (a.atthasdef OR t.typdefaultbin IS NOT NULL) AS "hasDefault",
                  a.attidentity::text AS identity, a.attgenerated::text AS generated
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum`,
    values: [oid],
  };
}

/**
 * Who row-level security on a table spares: the current role, the table's owner, whether
 * the current role acts as that owner (a member of it that inherits its privileges, to whom
 * row security does not apply) and whether the table forces it on its owner too.
 */
export function rowSecurityOwnerStatement(oid: number): Statement {
  return {
    text: `SELECT current_user::text AS role, pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
                  pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') AS "actsAsOwner",
                  c.relforcerowsecurity AS forced
             FROM pg_catalog.pg_class c WHERE c.oid = $1`,
    values: [oid],
  };
}

/**
 * The server timeouts this role starts its sessions with that are not off, and where each
 * was set (pg_settings.source: 'database', 'user', 'database user', 'configuration file'...).
 * reset_val, not setting: our own session already turned idle_session_timeout off, which
 * hides the role's value from `setting` (and its source becomes 'session'). pg_settings is
 * readable by every role; transaction_timeout exists from PostgreSQL 17.
 */
export function serverTimeoutsStatement(): Statement {
  return {
    text: `SELECT name, reset_val AS setting, unit,
                  CASE WHEN source = 'session' THEN 'the role or database' ELSE source END AS source
             FROM pg_catalog.pg_settings
            WHERE name IN ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',
                           'idle_session_timeout', 'transaction_timeout')
              AND reset_val <> '0'
            ORDER BY name`,
    values: [],
  };
}
