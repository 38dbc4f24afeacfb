import { STATE_SCHEMA } from './stateSchema.js';
import type { Statement } from './types.js';
import { isShardStateOf } from './shard.js';

/*
 * The job's lease (migrations/000005.sql). Each statement is whole in itself: behind
 * PgBouncer's transaction pooling nothing of a session outlives its transaction, so the
 * server session that renews is named in the statement that renews (pg_backend_pid()).
 */

const THIS_BACKEND = `pg_backend_pid(), (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_backend_pid())`;

/**
 * Takes the lease when it is free: absent, expired, or held by a server session that no
 * longer exists (its runner was killed on a direct connection). A session of another role
 * shows no backend_start without pg_read_all_stats: it then counts as alive, and the lease
 * waits for its expiry. Returns the new token, or no row when another runner holds it.
 */
export function acquireLeaseStatement(job: string, holder: string, ttlSeconds: number): Statement {
  return {
    text: `INSERT INTO ${STATE_SCHEMA}.lease AS l
             (job, holder, token, acquired_at, renewed_at, expires_at, backend_pid, backend_start)
           VALUES ($1, $2, 1, now(), now(), now() + make_interval(secs => $3), ${THIS_BACKEND})
           ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, token = l.token + 1,
             acquired_at = now(), renewed_at = now(), expires_at = EXCLUDED.expires_at,
             backend_pid = EXCLUDED.backend_pid, backend_start = EXCLUDED.backend_start
           WHERE l.expires_at < now()
              OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                              WHERE a.pid = l.backend_pid
                                AND (a.backend_start IS NULL OR a.backend_start = l.backend_start))
           RETURNING token::text AS token`,
    values: [job, holder, ttlSeconds],
  };
}

/** Who holds the lease, for the message of a runner that did not get it. */
export function leaseHolderStatement(job: string): Statement {
  return {
    text: `SELECT holder, expires_at::text AS "expiresAt", expires_at > now() AS live
             FROM ${STATE_SCHEMA}.lease WHERE job = $1`,
    values: [job],
  };
}

/**
 * Renews the lease by its token, in the caller's transaction: one row when it is still
 * ours, none when another runner has taken it (and then nothing of this transaction may
 * commit). The row lock it takes also orders this transaction with any acquisition.
 */
export function renewLeaseStatement(
  job: string,
  holder: string,
  token: string,
  ttlSeconds: number,
): Statement {
  return {
    text: `UPDATE ${STATE_SCHEMA}.lease
              SET renewed_at = now(), expires_at = now() + make_interval(secs => $4),
                  (backend_pid, backend_start) = (SELECT ${THIS_BACKEND})
            WHERE job = $1 AND holder = $2 AND token = $3::bigint
           RETURNING 1`,
    values: [job, holder, token, ttlSeconds],
  };
}

/** Gives the lease up at the end of a pass (only ours, by token). */
export function releaseLeaseStatement(job: string, holder: string, token: string): Statement {
  return {
    text: `DELETE FROM ${STATE_SCHEMA}.lease WHERE job = $1 AND holder = $2 AND token = $3::bigint`,
    values: [job, holder, token],
  };
}

/**
 * The live leases of a job's shards (src/config/shard.ts), any count: a restore, which takes
 * the job's own lease, must not move rows back while a shard's run archives them.
 */
export function liveShardLeasesStatement(job: string): Statement {
  return {
    text: `SELECT job, expires_at::text AS "expiresAt" FROM ${STATE_SCHEMA}.lease
            WHERE ${isShardStateOf('job', '$1')} AND expires_at > now()`,
    values: [job],
  };
}
