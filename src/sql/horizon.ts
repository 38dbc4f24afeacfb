import type { JobPlan } from '../db/plan.js';
import { APPLICATION_NAME } from '../config/product.js';
import type { Statement } from './types.js';

/**
 * The settle horizon: rows with an orderBy time below it are settled, i.e. no transaction
 * still in flight can commit a row in front of them.
 *
 * least(
 *   now() - settleSeconds,                       -- writers that stamp rows with their own clock
 *   min(xact_start) of every other transaction   -- now() in those is >= their xact_start
 *     open in this database
 * )
 * then, while a prepared (two-phase) transaction exists, at most the stored checkpoint (or
 * nothing at all without one): a prepared transaction's start is unknown, but it was open
 * (and so held the horizon) during the last completed pass unless it started after it.
 *
 * It must run in its own statement BEFORE the scan's snapshot is taken: a transaction that
 * commits between the two is then visible to the scan, while one that is still open when
 * pg_stat_activity is read holds the horizon below its own rows. Read after the snapshot, a
 * transaction committing in between would escape both.
 *
 * Excluded: other databases, our own two sessions (`excludePids`), autovacuum, and our
 * read-only scans of other jobs (by application_name, and only while they hold no xid, so a
 * writer that merely borrows the name is still seen).
 *
 * The value is cast to the column's exact type, typmod included: a timestamp(0) column
 * stores a transaction's now() rounded, and rounding is monotonic, so every row of an open
 * transaction stays >= the rounded horizon. The cast happens in the session TimeZone, which
 * the job may set for `timestamp without time zone`; for `date` it truncates, so a date
 * column settles a day at a time.
 *
 * `hiddenSessions` counts sessions whose transactions cannot be seen (track_activities off,
 * or other roles without pg_read_all_stats): for those only settleSeconds protects.
 */
export function horizonStatement(
  plan: JobPlan,
  excludePids: number[],
  storedCheckpoint: string | undefined,
): Statement {
  const exact = plan.time.type;
  return {
    text: `
WITH h AS (
  SELECT least(
    now() - make_interval(secs => $1),
    (SELECT min(a.xact_start) FROM pg_catalog.pg_stat_activity a
      WHERE a.datname = current_database()
        AND a.pid <> ALL ($2::int[])
        AND a.backend_type IS DISTINCT FROM 'autovacuum worker'
        AND a.xact_start IS NOT NULL
        AND NOT (a.application_name = $3 AND a.backend_xid IS NULL))
  ) AS at,
  EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_xacts x WHERE x.database = current_database()) AS prepared,
  (SELECT count(*) FROM pg_catalog.pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> ALL ($2::int[])
      AND a.backend_type = 'client backend' AND (a.state IS NULL OR a.state = 'disabled'))::int AS hidden
), v AS (
  SELECT h.*, CASE WHEN h.prepared THEN least(h.at::${exact}, coalesce($4::${exact}, '-infinity'))
                   ELSE h.at::${exact} END AS horizon
    FROM h
)
SELECT v.horizon::text AS horizon,
       extract(epoch FROM now() - v.horizon::timestamptz)::float8 AS "lagSeconds",
       v.prepared AS "preparedTransactions",
       v.hidden AS "hiddenSessions",
       coalesce(v.horizon <= $4::${exact}, false) AS "behindCheckpoint"
FROM v`,
    values: [plan.job.settleSeconds, excludePids, APPLICATION_NAME.scan, storedCheckpoint ?? null],
  };
}

export interface HorizonRow {
  horizon: string;
  lagSeconds: number;
  preparedTransactions: boolean;
  hiddenSessions: number;
  /** The horizon has not moved past the stored checkpoint: an incremental pass has nothing to judge. */
  behindCheckpoint: boolean;
}
