import type { TimeType } from '../db/catalog.js';
import type { Statement } from './types.js';

/** application_name of our scanning sessions: read-only, so they never hold the horizon back. */
export const SCAN_APPLICATION_NAME = 'status-reconciler:scan';

/**
 * The settle horizon: rows with an orderBy time below it are settled, i.e. no transaction
 * still in flight can commit a row in front of them.
 *
 * least(
 *   now() - settleSeconds,                       -- writers that stamp rows with their own clock
 *   min(xact_start) of every other transaction   -- now() in those is >= their xact_start
 *     open in this database,
 *   min(prepared) - settleSeconds of prepared    -- a prepared transaction's start is unknown
 *     (two-phase) transactions
 * )
 *
 * It must run in its own statement BEFORE the scan's snapshot is taken: a transaction that
 * commits between the two is then visible to the scan, while one that is still open when
 * pg_stat_activity is read holds the horizon below its own rows. Read after the snapshot, a
 * transaction committing in between would escape both.
 *
 * Only client backends matter (autovacuum and walsenders insert nothing into the table),
 * only in this database, and not our own two sessions (`excludePids`) nor our read-only
 * scans of other jobs. The cast to the job's time type happens in the session TimeZone,
 * which the job may set for `timestamp without time zone`; for `date` the cast truncates,
 * so a date column settles a day at a time.
 */
export function horizonStatement(
  settleSeconds: number,
  excludePids: number[],
  timeType: TimeType,
): Statement {
  return {
    text: `
WITH h AS (
  SELECT least(
    now() - make_interval(secs => $1),
    (SELECT min(a.xact_start) FROM pg_catalog.pg_stat_activity a
      WHERE a.datname = current_database()
        AND a.pid <> ALL ($2::int[])
        AND a.backend_type = 'client backend'
        AND a.xact_start IS NOT NULL
        AND a.application_name IS DISTINCT FROM $3),
    (SELECT min(x.prepared) - make_interval(secs => $1) FROM pg_catalog.pg_prepared_xacts x
      WHERE x.database = current_database())
  ) AS at
)
SELECT (h.at::${timeType})::text AS horizon,
       extract(epoch FROM h.at)::float8 AS "horizonEpoch",
       extract(epoch FROM now() - h.at)::float8 AS "lagSeconds",
       (pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
        OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)) AS "seesAllSessions"
FROM h`,
    values: [settleSeconds, excludePids, SCAN_APPLICATION_NAME],
  };
}

export interface HorizonRow {
  horizon: string;
  horizonEpoch: number;
  lagSeconds: number;
  seesAllSessions: boolean;
}
