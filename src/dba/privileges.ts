import type pg from 'pg';
import { tieBreakerColumn, type Job } from '../config/job.js';
import { ident } from '../db/quote.js';
import { lackingPrivilegesStatement, type PrivilegeTarget } from '../sql/privileges.js';

/*
 * The privileges a run needs and the GRANT that gives them, for `check` and `sql` alike;
 * and the database asked which of them a role lacks.
 */

/**
 * What a run does to a history table: reads it (scan, re-verification), deletes the
 * duplicates, and locks each removed row's predecessor FOR SHARE while it re-verifies
 * (src/sql/collapse.ts). PostgreSQL lets only a role that may UPDATE at least one column
 * lock a row, so UPDATE on one column, the tie-breaker, is the least it accepts; the
 * reconciler itself never updates a row. Shared by `check` and `sql` so they agree.
 */
export function historyTablePrivileges(job: Job): string[] {
  const last = tieBreakerColumn(job);
  return ['SELECT', 'DELETE', `UPDATE (${ident(last)})`];
}

/** The archive table: filled by INSERT ... SELECT FROM the deleted rows; SELECT for readers of it. */
export const ARCHIVE_TABLE_PRIVILEGES = ['SELECT', 'INSERT'];

/**
 * What `restore` needs beyond a run's grants, in archive mode: it deletes the rows it moves
 * from the archive and inserts them into the history table, in one statement
 * (src/sql/restore.ts). `history` only reads both tables, which a run's grants allow already.
 */
export const RESTORE_HISTORY_TABLE_PRIVILEGES = ['INSERT'];
export const RESTORE_ARCHIVE_TABLE_PRIVILEGES = ['DELETE'];

/** The state table only read by the reconciler: its migrations are the administrator's record. */
export const READ_ONLY_STATE_TABLES = new Set(['migrations']);
export const STATE_TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

export function grantLine(privileges: string[], on: string, role: string): string {
  return `GRANT ${privileges.join(', ')} ON ${on} TO ${ident(role)};`;
}

/** Those of `privileges` the current role lacks on `target`, in their order (src/sql/privileges.ts). */
export async function lacking(
  client: pg.ClientBase,
  test: PrivilegeTarget,
  target: number | string,
  privileges: string[],
): Promise<string[]> {
  const { rows } = await client.query<{ p: string }>(lackingPrivilegesStatement(test, target, privileges));
  return rows.map((r) => r.p);
}

/** Column-level privileges ("UPDATE (col)") are held when the role has them on any column. */
export async function lackingOnTable(
  client: pg.ClientBase,
  oid: number,
  privileges: string[],
): Promise<string[]> {
  const plain = privileges.filter((p) => !p.includes('('));
  const columnLevel = privileges.filter((p) => p.includes('('));
  const missingPlain = await lacking(client, 'table', oid, plain);
  const missingColumn = await lacking(
    client,
    'anyColumn',
    oid,
    columnLevel.map((p) => p.slice(0, p.indexOf('(')).trim()),
  );
  return privileges.filter(
    (p) => missingPlain.includes(p) || missingColumn.includes(p.slice(0, p.indexOf('(')).trim()),
  );
}
