import type { Connection } from '../db/connect.js';
import type { JobPlan } from '../db/plan.js';
import { inShortTransaction } from '../db/transaction.js';
import { collapseStatement, type DuplicateRef } from '../sql/collapse.js';
import { addTotalsStatement } from '../sql/totals.js';
import type { Lease } from './lease.js';
import type { PassCounts, UncommittedCounts } from './passCounts.js';

/**
 * Removes duplicates in batches on the writer while the scan reads on: one batch in flight
 * at a time, each in its own short transaction (lock_timeout, statement_timeout) that also
 * commits the counts gathered up to it and renews the job's lease. A dry run (no lease)
 * gathers and counts but removes nothing.
 */
export class BatchRemover {
  private batch: DuplicateRef[] = [];
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly writer: Connection,
    private readonly plan: JobPlan,
    private readonly counts: PassCounts,
    /** None on a dry run, which removes nothing. */
    private readonly lease: Lease | undefined,
  ) {}

  async add(duplicate: DuplicateRef): Promise<void> {
    this.batch.push(duplicate);
    if (this.batch.length >= this.plan.job.batchSize) await this.flush();
  }

  /**
   * Starts the batch gathered so far once the last one settled, and surfaces that one's
   * error right away. The counts are cut with the batch, so they describe exactly the rows
   * read up to it.
   */
  async flush(): Promise<void> {
    await this.inFlight;
    const duplicates = this.batch;
    this.batch = [];
    if (duplicates.length === 0 || this.lease === undefined) return;
    this.inFlight = this.commit(duplicates, this.counts.takeUncommitted());
    this.inFlight.catch(() => undefined); // observed on the next await; never unhandled
  }

  /**
   * Renews the lease in a transaction of its own when a long stretch without batches (a scan
   * through rows without duplicates) would otherwise let it run out; after the batch in flight.
   */
  async renewLeaseIfDue(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || !lease.renewalDue()) return;
    await this.inFlight;
    await inShortTransaction(this.writer.client, this.plan.job, (c) => lease.renewIn(c));
  }

  /** The batch in flight, settled; rejects with its error. */
  settle(): Promise<void> {
    return this.inFlight;
  }

  private async commit(duplicates: DuplicateRef[], counted: UncommittedCounts): Promise<void> {
    const job = this.plan.job;
    const lease = this.lease as Lease;
    const removed = await inShortTransaction(this.writer.client, job, async (c) => {
      // First, so a runner that lost the lease commits nothing, and takes the lease row's
      // lock, which orders this batch with any runner taking the lease over.
      await lease.renewIn(c);
      const res = await c.query(collapseStatement(this.plan, duplicates));
      const rows = res.rowCount ?? 0;
      await c.query(addTotalsStatement(job.name, { ...counted, duplicatesRemoved: rows }));
      return rows;
    });
    this.counts.committedBatch(removed);
  }
}
