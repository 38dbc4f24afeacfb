import type { Statement } from './types.js';

/*
 * What the catalog says of an existing archive table beyond its columns' names and types
 * (catalog.ts, insertColumnsStatement): whether a column refuses NULL through its type (a
 * NOT NULL domain, which pg_attribute.attnotnull does not show), whether the history
 * column it is filled from can be NULL, the CHECK constraints an archived row must pass, and
 * the partitioning that must have a partition for it. Read by src/reconcile/checkArchive.ts.
 */

/** A column of the archive table, with the nullability of it and of its source column. */
export interface ArchiveNullability {
  name: string;
  /** The shallowest NOT NULL domain in its type's chain of domains (format_type), else null. */
  notNullDomain: string | null;
  /** The type under every domain of its type (format_type, the last domain's typmod), else null. */
  baseType: string | null;
  /** Whether the history table has a column of this name. */
  inSource: boolean;
  /** Whether that column refuses NULL: attnotnull, or a NOT NULL domain. */
  sourceNotNull: boolean;
}

/**
 * Each column of the archive ($1) with the nullability of its namesake in the history
 * table ($2). A domain over a domain is NOT NULL when any domain in its chain is (PostgreSQL
 * checks every one), so the chain is walked: pg_type.typnotnull is only the domain's own.
 */
export function archiveNullabilityStatement(archiveOid: number, sourceOid: number): Statement {
  return {
    text: `WITH RECURSIVE chain (relid, attnum, typid, depth) AS (
             SELECT a.attrelid, a.attnum, a.atttypid, 0
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid IN ($1, $2) AND a.attnum > 0 AND NOT a.attisdropped
             UNION ALL
             SELECT c.relid, c.attnum, t.typbasetype, c.depth + 1
               FROM chain c JOIN pg_catalog.pg_type t ON t.oid = c.typid
              WHERE t.typtype = 'd'
           ),
           domains AS (
             SELECT c.relid, c.attnum, c.depth, t.typnotnull, format_type(t.oid, NULL) AS domain,
                    format_type(t.typbasetype, t.typtypmod) AS base
               FROM chain c JOIN pg_catalog.pg_type t ON t.oid = c.typid
              WHERE t.typtype = 'd'
           )
           SELECT a.attname AS name,
                  (SELECT d.domain FROM domains d WHERE d.relid = a.attrelid AND d.attnum = a.attnum
                      AND d.typnotnull ORDER BY d.depth LIMIT 1) AS "notNullDomain",
                  (SELECT d.base FROM domains d WHERE d.relid = a.attrelid AND d.attnum = a.attnum
                    ORDER BY d.depth DESC LIMIT 1) AS "baseType",
                  s.attname IS NOT NULL AS "inSource",
                  coalesce(s.attnotnull OR EXISTS (
                    SELECT 1 FROM domains d WHERE d.relid = s.attrelid AND d.attnum = s.attnum AND d.typnotnull
                  ), false) AS "sourceNotNull"
             FROM pg_catalog.pg_attribute a
             LEFT JOIN pg_catalog.pg_attribute s
                    ON s.attrelid = $2 AND s.attname = a.attname AND s.attnum > 0 AND NOT s.attisdropped
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum`,
    values: [archiveOid, sourceOid],
  };
}

/** A CHECK constraint every archived row must pass: of the table, or of a column's domain. */
export interface ArchiveCheck {
  name: string;
  /** pg_get_constraintdef: `CHECK (...)`, with NOT VALID when it is (it still binds new rows). */
  definition: string;
  /** The domain it belongs to (format_type) and the column of that type; null for the table's own. */
  domain: string | null;
  column: string | null;
}

/**
 * The CHECK constraints of the archive table (inherited ones included: they are its own
 * rows in pg_constraint) and of the domains in its columns' type chains. NOT NULL is left
 * out (contype 'n' from PostgreSQL 18 on): archiveNullabilityStatement covers it.
 */
export function archiveChecksStatement(archiveOid: number): Statement {
  return {
    text: `WITH RECURSIVE chain (attname, typid) AS (
             SELECT a.attname, a.atttypid
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
             UNION ALL
             SELECT c.attname, t.typbasetype
               FROM chain c JOIN pg_catalog.pg_type t ON t.oid = c.typid
              WHERE t.typtype = 'd'
           )
           SELECT k.conname::text AS name, pg_catalog.pg_get_constraintdef(k.oid) AS definition,
                  NULL::text AS domain, NULL::text AS column
             FROM pg_catalog.pg_constraint k
            WHERE k.conrelid = $1 AND k.contype = 'c'
           UNION ALL
           SELECT k.conname::text, pg_catalog.pg_get_constraintdef(k.oid),
                  format_type(k.contypid, NULL), c.attname::text
             FROM chain c JOIN pg_catalog.pg_constraint k ON k.contypid = c.typid AND k.contype = 'c'
            ORDER BY 3 NULLS FIRST, 4, 1`,
    values: [archiveOid],
  };
}

/** How a partitioned archive table is partitioned, and whether a DEFAULT partition takes what no other does. */
export interface ArchivePartitioning {
  /** pg_get_partkeydef: `RANGE (start_date)`. */
  key: string;
  hasDefault: boolean;
}

/** One row when the archive table is partitioned (relkind 'p'), else none. */
export function archivePartitioningStatement(archiveOid: number): Statement {
  return {
    text: `SELECT pg_catalog.pg_get_partkeydef(p.partrelid) AS key, p.partdefid <> 0 AS "hasDefault"
             FROM pg_catalog.pg_partitioned_table p
            WHERE p.partrelid = $1`,
    values: [archiveOid],
  };
}
