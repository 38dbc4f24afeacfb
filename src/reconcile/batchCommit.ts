import type pg from 'pg';
import { formatName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { SQLSTATE } from '../db/sqlstate.js';
import { inShortTransaction } from '../db/transaction.js';
import { lockTablesStatement, lockTargetsStatement, presentStatement } from '../sql/batchLocks.js';
import type { DuplicateRef, LockedRow } from '../sql/batchRows.js';
import { collapseStatement, type CollapseRow } from '../sql/collapse.js';
import { emptyGapCounts } from '../sql/gapBuckets.js';
import { addTotalsStatement } from '../sql/totals.js';
import type { BisectExhaustedError } from './bisect.js';
import type { Lease } from './lease.js';
import type { UncommittedCounts } from './passCounts.js';
import { readReferences, referenceProblems, unreadableReferenceError, type Reference } from './references.js';

/** What one committed attempt of a batch did. */
export interface AttemptOutcome {
  removed: number;
  /** Duplicates left out: another session held them locked. */
  locked: DuplicateRef[];
  /** Duplicates kept because rows reference them. */
  referenced: DuplicateRef[];
  /** How many of those each reference holds (one duplicate may count under several). */
  byReference: { reference: Reference; rows: number }[];
}

export const NOTHING_COUNTED: UncommittedCounts = {
  rowsExamined: 0,
  duplicatesFound: 0,
  missedByIncremental: 0,
  gapCounts: emptyGapCounts(),
  gapSum: 0,
};

/** deadlock_detected (PostgreSQL appendix A). */
const DEADLOCK_DETECTED = '40P01';

/** A table-level lock kept the batch from starting: no smaller batch would fare better. */
export class TableLockError extends Error {
  override readonly name = 'TableLockError';
}

function tablesOf(plan: JobPlan): string {
  const archive = plan.job.mode === 'archive' ? ` and ${formatName(plan.job.archiveTable!)}` : '';
  return `${formatName(plan.job.table)}${archive}`;
}

/** A lock wait before any row is touched: no smaller batch would fare better, so it ends the batch. */
async function notHalved<T>(step: Promise<T>, message: string): Promise<T> {
  try {
    return await step;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== SQLSTATE.lockNotAvailable && code !== DEADLOCK_DETECTED) throw error;
    throw new TableLockError(message, { cause: error });
  }
}

/**
 * Whether a failed attempt is worth retrying in halves: a row lock waited for past
 * lock_timeout, or a deadlock, in the statements that lock or remove rows.
 */
export function isRowLockFailure(error: unknown): boolean {
  if (error instanceof TableLockError) return false;
  const code = (error as { code?: string }).code;
  return code === SQLSTATE.lockNotAvailable || code === DEADLOCK_DETECTED;
}

/** The error a batch ends with when halving it did not get past its lock waits. */
export function gaveUpError(plan: JobPlan, error: BisectExhaustedError): Error {
  return new Error(
    `${formatName(plan.job.table)}: a batch kept waiting for locks past lockTimeoutMs (${plan.job.lockTimeoutMs} ms) ` +
      `however it was split: ${error.message}. Rows of a table the batch writes or one that references it are ` +
      'locked, or a table-level lock is held on a referencing table (e.g. CREATE INDEX without CONCURRENTLY)',
    { cause: error },
  );
}

/** The duplicates the batch could not lock that are still there: another session holds them. */
async function lockedByOthers(
  c: pg.ClientBase,
  plan: JobPlan,
  duplicates: readonly DuplicateRef[],
  held: readonly LockedRow[],
): Promise<number[]> {
  const got = new Set(held.map((r) => r.ord));
  const missing = duplicates.map((_, i) => i).filter((i) => !got.has(i));
  if (missing.length === 0) return [];
  const { rows } = await c.query<{ ord: number }>(presentStatement(plan, places(duplicates, missing)));
  return rows.map((r) => missing[r.ord] as number);
}

function places<T>(all: readonly T[], ords: Iterable<number>): T[] {
  return [...new Set(ords)].sort((a, b) => a - b).map((i) => all[i] as T);
}

/**
 * One attempt at a batch, in one short transaction (lock_timeout and statement_timeout
 * set), statement by statement:
 * 1. renew the lease (first: a runner that lost it commits nothing);
 * 2. LOCK the history (and archive) table ROW EXCLUSIVE: a table-level lock waits here;
 * 3. read the foreign keys that reference the table (exact now: see readReferences);
 * 4. lock the duplicates FOR UPDATE SKIP LOCKED: those other sessions hold are left out,
 *    without waiting;
 * 5. remove the locked ones, each re-verified against its current predecessor (locked FOR
 *    SHARE, waited for up to lock_timeout: a 55P03 or a deadlock here fails the attempt, and
 *    the caller halves the batch), keeping what some row references (a new statement: its
 *    snapshot sees every referencing row committed before 4);
 * 6. add the counts (`counted`, and the rows removed) to the job's totals.
 * Counts are returned only once it has committed.
 */
export async function attemptBatch(
  client: pg.ClientBase,
  plan: JobPlan,
  lease: Lease,
  duplicates: readonly DuplicateRef[],
  counted: UncommittedCounts,
): Promise<AttemptOutcome> {
  return inShortTransaction(client, plan.job, async (c) => {
    await notHalved(lease.renewIn(c), "could not renew the job's lease within lockTimeoutMs");
    await notHalved(
      c.query(lockTablesStatement(plan)),
      `could not lock ${tablesOf(plan)} within lockTimeoutMs (${plan.job.lockTimeoutMs} ms) to remove ` +
        'duplicates: another session holds a conflicting table lock (DDL, or CREATE INDEX without ' +
        'CONCURRENTLY); nothing of this batch was removed',
    );
    const references = await readReferences(c, plan);
    const problems = referenceProblems(references);
    if (problems.length > 0) throw unreadableReferenceError(plan, problems);

    const { rows: held } = await c.query<LockedRow>(lockTargetsStatement(plan, duplicates));
    const busy = await lockedByOthers(c, plan, duplicates, held);
    let result: CollapseRow = { removed: 0, referenced: [], byReference: references.map(() => 0) };
    if (held.length > 0) {
      const { rows } = await c.query<CollapseRow>(collapseStatement(plan, held, references));
      result = rows[0] as CollapseRow;
    }
    await c.query(addTotalsStatement(plan.job.name, { ...counted, duplicatesRemoved: result.removed }));
    return {
      removed: result.removed,
      locked: places(duplicates, busy),
      referenced: places(duplicates, result.referenced),
      byReference: references.map((reference, i) => ({ reference, rows: result.byReference[i] ?? 0 })),
    };
  });
}

/** Commits counts alone (with the lease renewed), when no attempt of their batch committed. */
export async function commitCounts(
  client: pg.ClientBase,
  plan: JobPlan,
  lease: Lease,
  counted: UncommittedCounts,
): Promise<void> {
  await inShortTransaction(client, plan.job, async (c) => {
    await lease.renewIn(c);
    await c.query(addTotalsStatement(plan.job.name, { ...counted, duplicatesRemoved: 0 }));
  });
}
