import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { formatName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { inReadTransaction, inShortTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import { countArchivedStatement, restoreBatchStatement } from '../sql/restore.js';
import type { ArchiveFilter } from './archiveFilter.js';
import { Lease } from './lease.js';
import { liveShardLeasesStatement } from '../sql/lease.js';
import { migrate } from './migrate.js';

export interface RestoreOptions {
  dryRun: boolean;
  log: Logger;
  /** Aborting stops after the batch in hand: what committed stays restored, the rest archived. */
  signal?: AbortSignal;
}

/** What a restore did; `held`: a run holds the job's lease, and nothing was restored. */
export interface RestoreResult {
  job: string;
  outcome: 'success' | 'failure' | 'held';
  dryRun: boolean;
  /** Rows moved back and committed; on a dry run, the rows that would move. */
  rows: number;
  /** The transactions that moved rows. */
  batches: number;
  durationSeconds: number;
  reason?: string;
  error?: Error;
}

/**
 * Moves the archived rows the filter selects back into the history table, batch by batch
 * (the job's batchSize), each batch one statement in a short transaction with the job's
 * lock_timeout and statement_timeout, as a run's batches. Under the job's lease: a run of the
 * same job skips while a restore holds it, and a restore does not start while a run holds
 * it, so the two never interleave (a run archiving what is being restored). Each batch renews
 * the lease in its own transaction, so a restore that lost it commits nothing more. A dry run
 * only counts, and takes no lease. Never throws once the lease is taken: a failure is
 * returned with the rows restored before it (committed, and they stay).
 */
export async function restoreArchived(
  client: pg.ClientBase,
  plan: JobPlan,
  columns: string[],
  filter: ArchiveFilter,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const job = plan.job;
  const started = performance.now();
  const result = (fields: Partial<RestoreResult>): RestoreResult => ({
    job: job.name,
    outcome: 'success',
    dryRun: options.dryRun,
    rows: 0,
    batches: 0,
    durationSeconds: (performance.now() - started) / 1000,
    ...fields,
  });
  if (options.dryRun) {
    const holder = await Lease.holder(client, job);
    const { rows } = await inReadTransaction(
      client,
      (c) => c.query<{ n: string }>(countArchivedStatement(plan, filter)),
      job.timeZone,
    );
    const reason = holder
      ? `a run holds job "${job.name}" now (its lease runs until ${holder.expiresAt} unless renewed): ` +
        'it may archive more rows before a restore would start'
      : undefined;
    return result({ rows: Number(rows[0]?.n ?? 0), reason });
  }
  // The lease lives in the reconciler's schema; as a run does, bring it up to date first
  // (only reads once the migrations are applied).
  await migrate(client);
  const lease = await Lease.acquire(client, job);
  if (!(lease instanceof Lease)) {
    return result({
      outcome: 'held',
      reason:
        `a run holds job "${job.name}" (its lease runs until ${lease.heldUntil} unless renewed): nothing was ` +
        'restored; restore again once the run has finished',
    });
  }
  let rows = 0;
  let batches = 0;
  try {
    for (;;) {
      if (options.signal?.aborted) throw new Error('interrupted by a signal after the batch in hand');
      const moved = await inShortTransaction(client, job, async (c) => {
        await lease.renewIn(c);
        // A shard's run holds its own lease, not this one: checked at every batch.
        const shards = await c.query<{ job: string; expiresAt: string }>(liveShardLeasesStatement(job.name));
        if (shards.rows.length > 0) {
          throw new Error(
            `a sharded run of job "${job.name}" is going on (${shards.rows.map((r) => r.job).join(', ')}): ` +
              'a restore now would move rows back while it archives them; restore again once it has finished',
          );
        }
        const { rows: counted } = await c.query<{ deleted: number; inserted: number }>(
          restoreBatchStatement(plan, columns, filter, job.batchSize),
        );
        const { deleted = 0, inserted = 0 } = counted[0] ?? {};
        if (inserted !== deleted) {
          // Thrown inside the transaction: the batch rolls back, and the rows stay archived.
          throw new Error(
            `${formatName(job.table)} took ${inserted} of the ${deleted} rows of a batch: a trigger returning NULL ` +
              '(or sending rows to another table) or a rule on INSERT swallowed the others; nothing of this batch ' +
              'was restored. Disable it for the restore (ALTER TABLE ... DISABLE TRIGGER), or move the rows by hand',
          );
        }
        return deleted;
      });
      if (moved > 0) {
        rows += moved;
        batches += 1;
        options.log.debug({ job: job.name, batch: batches, rows: moved }, 'restored a batch');
      }
      if (moved < job.batchSize) break;
      if (job.batchPauseMs > 0) await sleep(job.batchPauseMs);
    }
    return result({ rows, batches });
  } catch (error) {
    const reason =
      `${rows} row(s) were restored into ${formatName(job.table)} before the failure (committed: they stay), ` +
      `the others are still in ${formatName(job.archiveTable!)}; restore again to move them`;
    return result({ outcome: 'failure', rows, batches, reason, error: error as Error });
  } finally {
    // By its token: a lease someone else took is left alone; if it fails, the lease expires.
    await lease.release(client).catch(() => undefined);
  }
}
