import { STATE_SCHEMA } from './stateSchema.js';
import type { Statement } from './types.js';

/**
 * The current role, the database, and what the role is: superuser, able to see every
 * session's xact_start (pg_read_all_stats, inherited), connected to a standby.
 */
export function currentRoleStatement(): Statement {
  return {
    text: `SELECT current_user::text AS role, current_database()::text AS database,
            r.rolsuper AS superuser,
            (r.rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')) AS "seesAllSessions",
            pg_is_in_recovery() AS standby
       FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
    values: [],
  };
}

/** What a privilege is tested on: a table (or any of its columns), a sequence, a schema, a database. */
export type PrivilegeTarget = 'table' | 'anyColumn' | 'sequence' | 'schema' | 'database';

const PRIVILEGE_TESTS: Record<PrivilegeTarget, string> = {
  table: 'has_table_privilege($1::oid, p)',
  anyColumn: 'has_any_column_privilege($1::oid, p)',
  sequence: 'has_sequence_privilege($1::oid, p)',
  schema: 'has_schema_privilege($1::text, p)',
  database: 'has_database_privilege($1::text, p)',
};

/**
 * `p`: each of `privileges` the current role lacks on `target`, in their order. Each
 * privilege is asked for on its own: has_table_privilege(t, 'SELECT, DELETE') is true
 * when EITHER is held. Tables and sequences go by oid (their text form would be parsed as
 * SQL); schemas by name, which has_schema_privilege takes literally.
 */
export function lackingPrivilegesStatement(
  test: PrivilegeTarget,
  target: number | string,
  privileges: string[],
): Statement {
  return {
    text: `SELECT p FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i) WHERE NOT ${PRIVILEGE_TESTS[test]} ORDER BY i`,
    values: [target, privileges],
  };
}

/** `active`: whether row-level security filters what the current role sees of the table. */
export function rowSecurityActiveStatement(table: number): Statement {
  return { text: 'SELECT row_security_active($1::oid) AS active', values: [table] };
}

/** The tables and sequences of the reconciler's own schema (oid, name, kind 'r', 'p' or 'S'), by name. */
export function stateRelationsStatement(): Statement {
  return {
    text: `SELECT c.oid, c.relname AS name, c.relkind::text AS kind
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'S')
      ORDER BY c.relname`,
    values: [STATE_SCHEMA],
  };
}
