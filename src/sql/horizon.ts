import type { JobPlan } from '../db/plan.js';
import type { Statement } from './types.js';

/**
 * How far ahead of the UTC horizon a zone's offsets are sampled, and how finely. No zone
 * has moved its clocks back by more than the widest spread of offsets on Earth (UTC-12 to
 * UTC+14). The step bounds what sampling can miss: an offset that drops and comes back
 * between two samples (a 15-minute step missed a 4-minute dip of a test zone: a real
 * transition lost). No zone's offsets change twice within seconds; 10 s costs ~5 ms a pass
 * (9,361 samples), and errs by at most 10 s, on the safe side (see localFloor).
 */
const ZONE_LOOKAHEAD = "interval '26 hours'";
const ZONE_STEP = "interval '10 seconds'";

/**
 * The lowest local time (session TimeZone) that any moment from `at` onwards maps to.
 * Local time goes back when a zone's offset drops (daylight saving ends, a zone changes
 * its rules): rows committed later can then take local times below local(at). Sampled at
 * t0 = at, t1, ... every ZONE_STEP: over [ti, ti+1] local time is at least
 * local(ti) - max(0, offset(ti) - offset(ti+1)), exact where the offset holds and at most
 * one step low where it changes (offsets change at most once a step: ZONE_STEP).
 */
function localFloor(at: string): string {
  const offset = (t: string): string => `(${t}::timestamp - (${t} AT TIME ZONE 'UTC'))`;
  return `(SELECT min(s.t::timestamp - greatest(interval '0', ${offset('s.t')} - ${offset('s.n')}))
      FROM (SELECT g AS t, g + ${ZONE_STEP} AS n
              FROM generate_series(${at}, ${at} + ${ZONE_LOOKAHEAD}, ${ZONE_STEP}) g) s)`;
}

/**
 * The horizon in the column's own domain: the lowest value any row committed from now on
 * can still take, given that its moment is at or after `at` (a timestamptz).
 * - timestamptz: `at` itself.
 * - timestamp: local times of the job's zone (its timeZone, else the database's): the lowest
 *   one from `at` onwards, which is below local(at) around a backward change.
 * - date: `current_date` depends on each writer's session TimeZone. With a job timeZone the
 *   writers use that zone: its lowest date from `at` on. Without one, a writer may use any
 *   zone: the date in UTC-14, so a date settles when every zone has left it. Real zones
 *   reach UTC-12; -14 also covers a POSIX sign mix-up of any of them ('UTC+14' is UTC-14).
 *   PostgreSQL accepts offsets down to -167 h; a writer set that far west needs the job's
 *   timeZone.
 */
function inColumnDomain(plan: JobPlan, at: string): string {
  const exact = plan.time.type;
  if (plan.timeType === 'timestamptz') return `${at}::${exact}`;
  if (plan.timeType === 'timestamp') return `${localFloor(at)}::${exact}`;
  if (plan.job.timeZone !== undefined) return `${localFloor(at)}::date`;
  return `((${at} AT TIME ZONE 'UTC') - interval '14 hours')::date`;
}

/**
 * now() minus the horizon, as an interval, in `v` of the statement below. A local time names
 * a moment only in a zone, and one repeated by a backward change names two (PostgreSQL reads
 * it as the later): for local times the lag is the UTC horizon's plus how far the local
 * horizon is held below local(at), so it shows the hold and is never below settleSeconds.
 * A date settles a day at a time by design: its lag is the UTC horizon's, so that the lag
 * (and the alert on it) still says whether a transaction holds reconciliation back, unless a
 * prepared transaction holds the date below where it settled: then its midnight counts.
 */
function lagInterval(plan: JobPlan): string {
  if (plan.timeType === 'timestamptz') return 'now() - v.horizon';
  if (plan.timeType === 'timestamp') return '(now() - v.at) + (v.at::timestamp - v.horizon)';
  return 'now() - least(v.at, CASE WHEN v.horizon < v.settled THEN v.horizon::timestamptz END)';
}

/**
 * The settle horizon: rows with an orderBy time below it are settled, i.e. no transaction
 * still in flight can commit a row in front of them.
 *
 * least(
 *   now() - settleSeconds,                       -- writers that stamp rows with their own clock
 *   min(xact_start) of every other transaction   -- now() in those is >= their xact_start
 *     open in this database
 * ), taken into the column's domain (inColumnDomain: local times and dates can go back),
 * then, while a prepared (two-phase) transaction exists, at most the stored checkpoint (or
 * -infinity without one: nothing can be judged): a prepared transaction's start is unknown,
 * but it was open (and so held the horizon) during the last completed pass unless it
 * started after it, and then its rows are above that pass's horizon.
 *
 * It must run in its own statement BEFORE the scan's snapshot is taken: a transaction that
 * commits between the two is then visible to the scan, while one that is still open when
 * pg_stat_activity is read holds the horizon below its own rows. Read after the snapshot, a
 * transaction committing in between would escape both.
 *
 * Excluded: other databases, the session running this very statement (pg_backend_pid(),
 * taken here: behind PgBouncer's transaction pooling a pid remembered from an earlier
 * statement may belong to another client's open transaction by now), and autovacuum. The
 * pass's writer is not excluded and need not be: it is idle (in no transaction) whenever the
 * horizon is read. Our scans of other jobs are not excluded either, though they never write:
 * no column tells them apart from an application's transaction that has only read so far.
 * application_name cannot: behind PgBouncer a server connection keeps the name of its last
 * client for the next one that sets none (a transition was lost that way). A concurrent
 * scan holds this horizon back for as long as it runs, on the safe side.
 *
 * The value is cast to the column's exact type, typmod included: a timestamp(0) column
 * stores a transaction's now() rounded, and rounding is monotonic, so every row of an open
 * transaction stays >= the rounded horizon.
 *
 * `hiddenSessions` counts sessions whose transactions cannot be seen (track_activities off,
 * or other roles without pg_read_all_stats): for those only settleSeconds protects.
 */
export function horizonStatement(plan: JobPlan, storedCheckpoint: string | undefined): Statement {
  const exact = plan.time.type;
  const sources = plan.citus === undefined ? LOCAL_SOURCES : CITUS_SOURCES;
  return {
    text: `
WITH ${sources.ctes}h AS (
  SELECT least(
    now() - make_interval(secs => $1),
    (SELECT min(a.xact_start) FROM ${sources.activity} a
      WHERE a.datname = current_database()
        AND ${sources.notSelf}
        AND a.backend_type IS DISTINCT FROM 'autovacuum worker'
        AND a.xact_start IS NOT NULL)
  ) AS at,
  (SELECT x.gid FROM ${sources.prepared} x ORDER BY x.prepared LIMIT 1) AS prepared_gid,
  (SELECT min(x.prepared) FROM ${sources.prepared} x) AS prepared_at,
  (SELECT count(*) FROM ${sources.activity} a
    WHERE a.datname = current_database() AND ${sources.notSelf}
      AND a.backend_type = 'client backend' AND (a.state IS NULL OR a.state = 'disabled'))::int AS hidden
), d AS (
  SELECT h.*, ${inColumnDomain(plan, 'h.at')} AS settled FROM h
), v AS (
  SELECT d.*, CASE WHEN d.prepared_at IS NOT NULL
                   THEN least(d.settled, coalesce($2::${exact}, '-infinity'))
                   ELSE d.settled END AS horizon
    FROM d
)
SELECT v.horizon::text AS horizon,
       CASE WHEN isfinite(v.horizon)
            THEN extract(epoch FROM ${lagInterval(plan)})::float8 END AS "lagSeconds",
       v.prepared_at IS NOT NULL AS "preparedTransactions",
       v.prepared_gid AS "preparedGid",
       v.prepared_at::text AS "preparedAt",
       v.hidden AS "hiddenSessions",
       coalesce(v.horizon <= $2::${exact}, false) AS "behindCheckpoint"
FROM v`,
    values: [plan.job.settleSeconds, storedCheckpoint ?? null],
  };
}

/** Where the horizon reads transactions from: this server's views. */
const LOCAL_SOURCES = {
  ctes: '',
  activity: 'pg_catalog.pg_stat_activity',
  notSelf: 'a.pid <> pg_backend_pid()',
  prepared: '(SELECT gid, prepared FROM pg_catalog.pg_prepared_xacts WHERE database = current_database())',
};

/**
 * On Citus, every node's: writers may connect to any node, and their transactions show in
 * citus_stat_activity, not in the coordinator's pg_stat_activity (measured: a dry run judged a
 * row whose predecessor an open worker transaction then changed). Prepared transactions are
 * read on every node (run_command_on_all_nodes); a node that does not answer counts as holding
 * one. Citus's own two-phase commits prepare a transaction on each worker for milliseconds at
 * every distributed commit: one is left out while the backend that started it (its gid is
 * citus_<group>_<pid>_...) is still in a transaction begun no later, since that backend's
 * xact_start holds the horizon for it already; one whose initiator is gone (a crashed
 * coordinator, until Citus recovers it) counts like any other.
 */
const CITUS_SOURCES = {
  ctes: `node_prepared AS (
  SELECT r.success, r.result FROM run_command_on_all_nodes(
    $q$SELECT coalesce(json_agg(json_build_object('gid', gid, 'prepared', prepared)), '[]')
         FROM pg_catalog.pg_prepared_xacts WHERE database = current_database()$q$) r
), all_prepared AS (
  SELECT x->>'gid' AS gid, (x->>'prepared')::timestamptz AS prepared
    FROM node_prepared r, json_array_elements(r.result::json) x WHERE r.success
  UNION ALL
  SELECT 'a node that did not answer', now() FROM node_prepared r WHERE NOT r.success
), citus_prepared AS (
  SELECT p.* FROM all_prepared p
   WHERE NOT (p.gid ~ '^citus_[0-9]+_[0-9]+_' AND EXISTS (
     SELECT 1 FROM citus_stat_activity a JOIN pg_dist_node n ON n.nodeid = a.nodeid
      WHERE n.groupid = split_part(p.gid, '_', 2)::int AND a.pid = split_part(p.gid, '_', 3)::int
        AND a.xact_start IS NOT NULL AND a.xact_start <= p.prepared))
), `,
  activity: 'citus_stat_activity',
  notSelf: 'a.global_pid <> citus_backend_gpid()',
  prepared: 'citus_prepared',
};

export interface HorizonRow {
  /** In the column's type, as text; '-infinity' while a prepared transaction holds a job without checkpoint. */
  horizon: string;
  /** now() minus the horizon; null when the horizon is not finite. */
  lagSeconds: number | null;
  preparedTransactions: boolean;
  /** The oldest prepared transaction of this database, if any: its gid and when it was prepared. */
  preparedGid: string | null;
  preparedAt: string | null;
  hiddenSessions: number;
  /** The horizon has not moved past the stored checkpoint: an incremental pass has nothing to judge. */
  behindCheckpoint: boolean;
}
