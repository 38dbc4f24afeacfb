import { jobStateKey } from '../config/job.js';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Job } from '../config/job.js';
import { SQLSTATE } from '../db/sqlstate.js';
import { inShortTransaction } from '../db/transaction.js';
import {
  acquireLeaseStatement,
  leaseHolderStatement,
  releaseLeaseStatement,
  renewLeaseStatement,
} from '../sql/lease.js';

/** The pass lost its lease to another runner: nothing more of it may commit. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/** How long taking the lease waits for its row: a live runner's batch holds it locked. */
const ACQUIRE_LOCK_TIMEOUT_MS = 100;

/**
 * One runner per job, behind PgBouncer's transaction pooling too (see migrations/000005.sql).
 * The lease lives `ttlSeconds` from each renewal: long enough to cover the longest batch
 * (twice statement_timeout) and never under a minute; it is renewed with every batch and,
 * while the scan reads on, once a quarter of that has passed.
 */
export class Lease {
  private renewedAt = performance.now();

  private constructor(
    readonly job: string,
    readonly holder: string,
    readonly token: string,
    readonly ttlSeconds: number,
  ) {}

  static ttlSeconds(job: Job): number {
    return Math.max(60, Math.ceil((2 * job.statementTimeoutMs) / 1000));
  }

  /**
   * The lease, or why not: who holds it and until when. The holder's batch keeps the lease
   * row locked while it commits (renewIn): a runner that finds it locked is looking at a
   * live runner mid-batch, and skips at once rather than wait behind it.
   */
  static async acquire(client: pg.ClientBase, job: Job): Promise<Lease | { heldUntil: string }> {
    const holder = randomUUID();
    const ttl = Lease.ttlSeconds(job);
    const timeouts = { ...job, lockTimeoutMs: ACQUIRE_LOCK_TIMEOUT_MS };
    try {
      const { rows } = await inShortTransaction(client, timeouts, (c) =>
        c.query<{ token: string }>(acquireLeaseStatement(jobStateKey(job), holder, ttl)),
      );
      if (rows[0]) return new Lease(jobStateKey(job), holder, rows[0].token, ttl);
    } catch (error) {
      if ((error as { code?: string }).code !== SQLSTATE.lockNotAvailable) throw error;
      return { heldUntil: 'the end of its batch in hand, at least' };
    }
    return { heldUntil: (await Lease.holder(client, job))?.expiresAt ?? 'now' };
  }

  /**
   * A dry run takes no lease (it would write); it only looks whether a live runner holds
   * one. Before the reconciler's schema exists nobody can.
   */
  static async holder(client: pg.ClientBase, job: Job): Promise<{ expiresAt: string } | undefined> {
    try {
      const { rows } = await client.query<{ expiresAt: string; live: boolean }>(
        leaseHolderStatement(jobStateKey(job)),
      );
      return rows[0]?.live ? { expiresAt: rows[0].expiresAt } : undefined;
    } catch (error) {
      if ((error as { code?: string }).code === SQLSTATE.undefinedTable) return undefined;
      throw error;
    }
  }

  /** Renews the lease in the caller's transaction; throws LeaseLostError when it is gone. */
  async renewIn(client: pg.ClientBase): Promise<void> {
    const { rowCount } = await client.query(
      renewLeaseStatement(this.job, this.holder, this.token, this.ttlSeconds),
    );
    if (rowCount === 0) {
      throw new LeaseLostError(
        `another runner took over job "${this.job}" (this run's lease, token ${this.token}, expired or its ` +
          'session was gone): this run stops; what it committed stays, the other runner carries on',
      );
    }
    this.renewedAt = performance.now();
  }

  /** Whether a quarter of the lease's life has passed since the last renewal. */
  renewalDue(): boolean {
    return performance.now() - this.renewedAt > (this.ttlSeconds * 1000) / 4;
  }

  async release(client: pg.ClientBase): Promise<void> {
    await client.query(releaseLeaseStatement(this.job, this.holder, this.token));
  }
}
