import type { QualifiedName } from '../config/job.js';
import { ident, qualified } from '../db/quote.js';
import type { Statement } from './types.js';

/** A column an existing archive table lacks, as it is added there: the source's type and collation. */
export interface ArchiveAddition {
  name: string;
  /** format_type() of the source column (typmod included), as the catalog spells it. */
  type: string;
  /** `"schema"."collation"` when the source column's collation is not its type's default, else null. */
  collation: string | null;
}

/**
 * The named columns of a table, in its order, with what adding them elsewhere takes: the
 * exact type and, when it is not the type's own default, the collation (CREATE TABLE ...
 * LIKE, which makes a new archive, copies it too).
 */
export function columnDefinitionsStatement(table: QualifiedName, columns: string[]): Statement {
  return {
    text: `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                  CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
                       THEN format('%I.%I', cn.nspname, co.collname) END AS collation
             FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
             LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
            WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = ANY ($3::text[])
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum`,
    values: [table.schema, table.name, columns],
  };
}

/**
 * Whether the current role may ALTER the table: ALTER TABLE needs its owner, which a member
 * of the owning role that inherits its privileges is too (pg_has_role USAGE, true for a
 * superuser).
 */
export function tableOwnerStatement(oid: number): Statement {
  return {
    text: `SELECT current_user::text AS role, pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
                  pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') AS "mayAlter"
             FROM pg_catalog.pg_class c WHERE c.oid = $1`,
    values: [oid],
  };
}

function definition(column: ArchiveAddition): string {
  return `${ident(column.name)} ${column.type}${column.collation ? ` COLLATE ${column.collation}` : ''}`;
}

/**
 * One column added as an administrator would type it: nullable and without a default, since
 * the rows archived before it have no value for it (NOT NULL would fail on them).
 */
export function addColumnText(archive: QualifiedName, column: ArchiveAddition): string {
  return `ALTER TABLE ${qualified(archive)} ADD COLUMN ${definition(column)};`;
}

/**
 * Every missing column in one statement, as the run adds them. IF NOT EXISTS: a runner of
 * the same job that got there first has added them already. It takes an ACCESS EXCLUSIVE
 * lock on the archive table, for a moment (adding a nullable column without a default
 * rewrites nothing).
 */
export function addArchiveColumnsStatement(archive: QualifiedName, columns: ArchiveAddition[]): Statement {
  return {
    text: `ALTER TABLE ${qualified(archive)} ${columns.map((c) => `ADD COLUMN IF NOT EXISTS ${definition(c)}`).join(', ')}`,
    values: [],
  };
}
