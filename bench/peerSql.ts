/**
 * The one-statement peer: what a PostgreSQL user schedules with pg_cron instead of this
 * tool (issue 10's text, the table's name aside). Autocommit, the server's default plan.
 */
export function peerDeleteSql(table: string): string {
  return (
    `DELETE FROM ${table} WHERE id IN (SELECT id FROM (SELECT id, status_id, ` +
    `lag(status_id) OVER (PARTITION BY object_id ORDER BY start_date, id) p FROM ${table}) x ` +
    `WHERE p = status_id)`
  );
}
