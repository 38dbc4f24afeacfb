/**
 * The product's name, as PostgreSQL, the Pushgateway and the logs see it. Operators filter
 * on it (pg_stat_activity.application_name LIKE 'status-reconciler%', job="status-reconciler"),
 * so it is spelt once, here.
 */
export const PRODUCT = 'status-reconciler';

/** application_name of each kind of session we open: the writer's is the bare name. */
export const APPLICATION_NAME = {
  writer: PRODUCT,
  /** Read-only scans: named for operators (pg_stat_activity); the horizon does not trust names. */
  scan: `${PRODUCT}:scan`,
  check: `${PRODUCT}:check`,
  serve: `${PRODUCT}:serve`,
  history: `${PRODUCT}:history`,
  /** Restore writes, but as an operator's command, not a run: named apart in pg_stat_activity. */
  restore: `${PRODUCT}:restore`,
} as const;
