import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from '../db/connect.js';
import type { JobPlan } from '../db/plan.js';
import { inShortTransaction } from '../db/transaction.js';
import type { DuplicateRef } from '../sql/batchRows.js';
import { attemptBatch, commitCounts, gaveUpError, isRowLockFailure, NOTHING_COUNTED } from './batchCommit.js';
import { bisect, BisectExhaustedError, bisectBudget } from './bisect.js';
import { earliestTime } from './blockedRows.js';
import type { Lease } from './lease.js';
import type { PassCounts, UncommittedCounts } from './passCounts.js';

/**
 * Removes duplicates in batches on the writer while the scan reads on: one batch in flight
 * at a time, each in its own short transaction (lock_timeout, statement_timeout) that also
 * commits the counts gathered up to it and renews the job's lease. A dry run (no lease)
 * gathers and counts but removes nothing.
 *
 * One locked row never stops the pass. A batch leaves out, without waiting, the duplicates
 * other sessions hold locked (src/reconcile/batchCommit.ts). When it fails on a lock all the
 * same (a predecessor held past lock_timeout, a deadlock), it is retried in halves, down to
 * the single rows that still fail, which are left out too. Left-out rows are counted
 * (lockedSkipped); once the scan is done, those passed over without waiting are tried once
 * more (their lock may be gone by then); the earliest time among those still left out holds
 * the checkpoint back, so the next run judges them again.
 */
export class BatchRemover {
  private batch: DuplicateRef[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  /** A renewal is queued or running: another call has nothing to add. */
  private renewing = false;
  /** Duplicates passed over as locked, to try again at the end (at most a batch of them). */
  private passedOver: DuplicateRef[] = [];
  /** Every duplicate left out so far, by its first orderBy value, while not retried. */
  private leftOut: DuplicateRef[] = [];
  /** The earliest time of those left out beyond what `leftOut` holds. */
  private earliestBeyond: string | undefined;

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
    await this.idle();
    const duplicates = this.batch;
    this.batch = [];
    if (duplicates.length === 0 || this.lease === undefined) return;
    this.inFlight = this.commit(duplicates, this.counts.takeUncommitted()).then(() => undefined);
    this.inFlight.catch(() => undefined); // observed on the next await; never unhandled
  }

  /**
   * The end of a pass that read to its end: the last batch, then one more try of the
   * duplicates passed over as locked, then the earliest time of those still left out
   * (PassCounts.earliestSkipped), which the checkpoint must not pass.
   */
  async finish(): Promise<void> {
    await this.flush();
    await this.idle();
    const again = this.passedOver;
    this.passedOver = [];
    if (again.length > 0) {
      const still = new Set(await this.commit(again, undefined));
      const resolved = new Set(again.filter((d) => !still.has(d)));
      this.leftOut = this.leftOut.filter((d) => !resolved.has(d));
      this.counts.resolvedSkipped([...resolved]);
    }
    if (this.leftOut.length > 0 || this.earliestBeyond !== undefined) {
      this.counts.earliestSkipped = await this.earliest(this.leftOut.map((d) => d.orderBy[0] as string));
    }
  }

  /**
   * Renews the lease in a transaction of its own when a long stretch without batches (a scan
   * through rows without duplicates, or the sort before its first row) would otherwise let
   * it run out; queued after the batch in flight, as the writer's next transaction, so it
   * may be called at any time (a timer calls it while the scan's first read waits on the
   * sort). A failure surfaces at the next batch, as a batch's does.
   */
  async renewLeaseIfDue(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || !lease.renewalDue() || this.renewing) return;
    this.renewing = true;
    this.inFlight = this.inFlight
      .then(() => inShortTransaction(this.writer.client, this.plan.job, (c) => lease.renewIn(c)))
      .finally(() => {
        this.renewing = false;
      });
    this.inFlight.catch(() => undefined); // observed on the next await; never unhandled
    await this.inFlight;
  }

  /**
   * Once nothing is in flight: a renewal may be queued while we wait (the scan's timer), so
   * wait until the writer's queue stays as it was, then return at once (no await between
   * this and the caller's next use of the writer).
   */
  private async idle(): Promise<void> {
    let current: Promise<void>;
    do {
      current = this.inFlight;
      await current;
    } while (current !== this.inFlight);
  }

  /** The batch in flight (and a renewal queued after it), settled; rejects with its error. */
  settle(): Promise<void> {
    return this.idle();
  }

  /** The earliest of `times` and of the left-out rows beyond those kept in memory. */
  private async earliest(times: string[]): Promise<string> {
    const all = this.earliestBeyond === undefined ? times : [this.earliestBeyond, ...times];
    return earliestTime(this.writer.client, this.plan, all);
  }

  /**
   * Commits `duplicates` (halving on lock failures) with the counts gathered up to them; a
   * retry (`counted` undefined) counts only what it removes or keeps, its rows being counted
   * as left out already. Returns the rows left out, passed over or isolated.
   */
  private async commit(
    duplicates: DuplicateRef[],
    counted: UncommittedCounts | undefined,
  ): Promise<DuplicateRef[]> {
    const retry = counted === undefined;
    const lease = this.lease as Lease;
    const client = this.writer.client;
    // The counts gathered up to this batch go with its first attempt that commits.
    let pending: UncommittedCounts | undefined = counted;
    const skipped: DuplicateRef[] = [];
    const leftOut = (rows: DuplicateRef[], passedOver: boolean): void => {
      skipped.push(...rows);
      if (retry) return;
      this.counts.skippedLocked(rows);
      if (passedOver)
        this.passedOver.push(...rows.slice(0, Math.max(0, this.plan.job.batchSize - this.passedOver.length)));
      this.leftOut.push(...rows);
    };
    try {
      await bisect(
        duplicates,
        async (piece) => {
          const started = performance.now();
          const outcome = await attemptBatch(client, this.plan, lease, piece, pending ?? NOTHING_COUNTED);
          const seconds = (performance.now() - started) / 1000;
          this.counts.longestBatchSeconds = Math.max(this.counts.longestBatchSeconds, seconds);
          pending = undefined;
          this.counts.committedBatch(outcome.removed);
          this.counts.keptReferenced(outcome.referenced, outcome.byReference);
          leftOut(outcome.locked, true);
        },
        {
          retryable: isRowLockFailure,
          isolated: (duplicate) => leftOut([duplicate], false),
          // Rows waited on past the budget: left for the end of the pass, and the next run.
          exhausted: (rest) => leftOut([...rest], true),
          exhaustedWithoutSuccess: retry,
          maxFailures: bisectBudget(duplicates.length),
        },
      );
    } catch (error) {
      throw error instanceof BisectExhaustedError ? gaveUpError(this.plan, error) : error;
    }
    if (pending !== undefined) await commitCounts(client, this.plan, lease, pending);
    await this.boundLeftOut();
    // The job's bound on its impact: the next batch starts (and the scan reads on) only after it.
    if (this.plan.job.batchPauseMs > 0) await sleep(this.plan.job.batchPauseMs);
    return skipped;
  }

  /** Keeps at most a batch of left-out rows in memory, folding the rest into their earliest time. */
  private async boundLeftOut(): Promise<void> {
    if (this.leftOut.length <= this.plan.job.batchSize) return;
    const kept = new Set(this.passedOver);
    const fold = this.leftOut.filter((d) => !kept.has(d));
    this.leftOut = this.leftOut.filter((d) => kept.has(d));
    this.earliestBeyond = await this.earliest(fold.map((d) => d.orderBy[0] as string));
  }
}
