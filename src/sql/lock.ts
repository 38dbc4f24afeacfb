import { PRODUCT } from '../config/product.js';
import type { Statement } from './types.js';

/*
 * One runner per job: a session-level advisory lock held by the writing connection for the
 * whole pass. Chosen over a lease row because the server drops it the moment the holder's
 * connection ends (SIGKILL, network loss, restart), so a crashed run never blocks the next
 * one until a lease expires. The cost: session locks do not survive PgBouncer transaction
 * pooling (pgbouncer #617) - point DATABASE_URL at the server or a session-pooled port.
 * Keyed by (hash of our name, hash of the job name): two jobs colliding on a hash would only
 * make one skip a run, never run unsafely.
 */
export function tryLockStatement(lockName: string): Statement {
  return {
    text: `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS locked`,
    values: [PRODUCT, lockName],
  };
}

export function unlockStatement(lockName: string): Statement {
  return {
    text: `SELECT pg_advisory_unlock(hashtext($1), hashtext($2)) AS unlocked`,
    values: [PRODUCT, lockName],
  };
}
