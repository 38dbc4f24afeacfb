import type pg from 'pg';
import { formatName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { inShortTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import { earliestTimeStatement } from '../sql/batchLocks.js';
import type { DuplicateRef } from '../sql/batchRows.js';
import type { PassCounts } from './passCounts.js';
import { describeReference } from './references.js';

/**
 * Duplicates a pass could not remove and says so: those locked by other sessions (retried
 * by the next run) and those that rows of other tables reference (kept).
 */

/** The earliest of some first-orderBy values, compared by PostgreSQL in the column's type. */
export async function earliestTime(
  client: pg.ClientBase,
  plan: JobPlan,
  times: readonly string[],
): Promise<string> {
  const { rows } = await inShortTransaction(client, plan.job, (c) =>
    c.query<{ earliest: string }>(earliestTimeStatement(plan, times)),
  );
  return rows[0]?.earliest as string;
}

/**
 * The horizon a completed pass may store as its checkpoint: its own, or the earliest time
 * of a duplicate it skipped when that is lower (it always is: only rows below the horizon
 * are judged), so the next incremental pass, which judges every object with a row at or
 * after the checkpoint, judges the skipped ones again. A lower checkpoint is always safe.
 */
export async function checkpointHorizon(
  client: pg.ClientBase,
  plan: JobPlan,
  horizon: string,
  counts: PassCounts,
): Promise<string> {
  if (counts.earliestSkipped === undefined) return horizon;
  return earliestTime(client, plan, [horizon, counts.earliestSkipped]);
}

/** A duplicate as a log shows it: its key and orderBy columns by name. */
function row(plan: JobPlan, d: DuplicateRef): Record<string, string> {
  const named: Record<string, string> = {};
  plan.key.forEach((c, i) => (named[c.name] = d.key[i] as string));
  plan.orderBy.forEach((c, i) => (named[c.name] = d.orderBy[i] as string));
  return named;
}

/** One warning for each kind of duplicate the pass left in place, with a few of them. */
export function logBlockedRows(log: Logger, plan: JobPlan, counts: PassCounts): void {
  const table = formatName(plan.job.table);
  if (counts.lockedSkipped > 0) {
    log.warn(
      {
        table,
        lockedSkipped: counts.lockedSkipped,
        rows: counts.lockedSamples.map((d) => row(plan, d)),
        ...(counts.earliestSkipped !== undefined ? { earliestSkipped: counts.earliestSkipped } : {}),
      },
      `${counts.lockedSkipped} duplicate(s) of ${table} skipped: another session held them, or the row ` +
        `before them, locked (past lockTimeoutMs, ${plan.job.lockTimeoutMs} ms, or without waiting); ` +
        'the rest of the pass went on, and the next run retries them',
    );
  }
  if (counts.referencedKept > 0) {
    const references = [...counts.keptByReference.values()];
    log.warn(
      {
        table,
        referencedKept: counts.referencedKept,
        constraints: references.map(({ reference, rows }) => ({
          constraint: reference.constraint,
          table: formatName(reference.child),
          columns: reference.childColumns,
          rows,
        })),
        rows: counts.referencedSamples.map((d) => row(plan, d)),
      },
      `${counts.referencedKept} duplicate(s) of ${table} kept: rows reference them through foreign key(s) ` +
        `${references.map(({ reference }) => describeReference(reference)).join('; ')}. The reconciler never ` +
        'deletes a referenced row (no ON DELETE action reaches another table); a later full pass (fullEvery) ' +
        'removes them once nothing references them',
    );
  }
}
