import type { JobPlan } from '../db/plan.js';
import type { QualifiedName } from '../config/job.js';
import type { Statement } from './types.js';

/**
 * A foreign key that references the history table: what keeps a duplicate it references.
 * The catalog row, with the child's name and the constraint's operators put together.
 */
export type Reference = Omit<
  ReferenceRow,
  'oid' | 'childSchema' | 'childTable' | 'operatorSchemas' | 'operatorNames'
> & {
  child: QualifiedName;
  /** `OPERATOR(schema.op)` for each column pair, PK = FK, as the constraint compares them. */
  operators: string[];
};

/** A foreign key that references the history table (or one of its partitions), as the catalog holds it. */
export interface ReferenceRow {
  /** pg_constraint.oid of the constraint as declared (the root of a partitioned one). */
  oid: number;
  constraint: string;
  /** The referencing (child) table: the one declaring the constraint. */
  childSchema: string;
  childTable: string;
  childColumns: string[];
  /** The referenced columns of the history table, in the constraint's order. */
  parentColumns: string[];
  /** The constraint's PK = FK equality operators (pg_constraint.conpfeqop), schema-qualified. */
  operatorSchemas: string[];
  operatorNames: string[];
  /** pg_constraint.confdeltype: a no action, r restrict, c cascade, n set null, d set default. */
  onDelete: string;
  deferrable: boolean;
  /** The child is the history table itself (or one of its partitions): a self-reference. */
  selfReference: boolean;
  /** The current role, which the privileges below are of. */
  role: string;
  /** The current role may read the child's referencing columns (USAGE on its schema, SELECT on them). */
  canRead: boolean;
  /** Row-level security applies to the current role on the child: some children may be hidden from it. */
  rowSecurity: boolean;
  /** An index (of the child) leads with exactly the referencing columns, in any order. */
  indexed: boolean;
}

/**
 * The foreign keys referencing the history table, each once, as declared: the table and
 * every relation under it (partitions, inheritance children: a DELETE on the table reaches
 * them all) are looked up as `confrelid`, and a constraint PostgreSQL derived for a
 * partition (of the referenced or of the referencing side; `conparentid`) is followed up to
 * the one that was declared, whose child table holds every referencing row. Columns by
 * name, in the constraint's order (a partition's attribute numbers may differ from its
 * parent's); the equality operators the constraint itself uses.
 *
 * By name, as the catalog spells it (no regclass cast: it would need USAGE on the schema,
 * which `check` may lack). pg_constraint has no index on confrelid: the read scans it,
 * which is quick.
 */
export function referencingConstraintsStatement(plan: JobPlan): Statement {
  return {
    text: `
WITH RECURSIVE tree AS (
  SELECT c.oid AS relid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = $1 AND c.relname = $2
  UNION
  SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.relid
), up AS (
  SELECT c.oid, c.conparentid FROM pg_catalog.pg_constraint c
   WHERE c.contype = 'f' AND c.confrelid IN (SELECT relid FROM tree)
  UNION
  SELECT p.oid, p.conparentid FROM up JOIN pg_catalog.pg_constraint p ON p.oid = up.conparentid
)
SELECT c.oid::int8 AS oid, c.conname::text AS constraint,
       n.nspname::text AS "childSchema", r.relname::text AS "childTable",
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, i)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
              ORDER BY k.i) AS "childColumns",
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(attnum, i)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
              ORDER BY k.i) AS "parentColumns",
       ARRAY(SELECT o.nspname::text FROM unnest(c.conpfeqop) WITH ORDINALITY k(op, i)
               JOIN pg_catalog.pg_operator x ON x.oid = k.op
               JOIN pg_catalog.pg_namespace o ON o.oid = x.oprnamespace
              ORDER BY k.i) AS "operatorSchemas",
       ARRAY(SELECT x.oprname::text FROM unnest(c.conpfeqop) WITH ORDINALITY k(op, i)
               JOIN pg_catalog.pg_operator x ON x.oid = k.op
              ORDER BY k.i) AS "operatorNames",
       current_user::text AS role, c.confdeltype::text AS "onDelete", c.condeferrable AS deferrable,
       c.conrelid IN (SELECT relid FROM tree) AS "selfReference",
       pg_catalog.has_schema_privilege(n.oid, 'USAGE')
         AND (SELECT bool_and(pg_catalog.has_column_privilege(c.conrelid, k.attnum, 'SELECT'))
                FROM unnest(c.conkey) k(attnum)) AS "canRead",
       pg_catalog.row_security_active(c.conrelid) AS "rowSecurity",
       EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                WHERE x.indrelid = c.conrelid AND x.indpred IS NULL
                  AND (x.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                  AND (x.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey) AS indexed
  FROM (SELECT DISTINCT oid FROM up) u
  JOIN pg_catalog.pg_constraint c ON c.oid = u.oid AND c.conparentid = 0
  JOIN pg_catalog.pg_class r ON r.oid = c.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
 ORDER BY n.nspname, r.relname, c.conname`,
    values: [plan.job.table.schema, plan.job.table.name],
  };
}
