import type pg from 'pg';
import { formatName, jobStateKey } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { SQLSTATE } from '../db/sqlstate.js';
import { batchSettings, inShortTransaction } from '../db/transaction.js';
import {
  lockTablesStatement,
  lockTargetsStatement,
  presentStatement,
  tableStateStatement,
} from '../sql/batchLocks.js';
import type { DuplicateRef, LockedRow } from '../sql/batchRows.js';
import { moveStatement, shardsStatement, workerSettingsStatements } from '../sql/citus.js';
import { collapseStatement, type CollapseRow, type Stretches } from '../sql/collapse.js';
import { stretchRangesStatement, type TimeRange } from '../sql/stretch.js';
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

/** The table changed under the run in a way its batches cannot follow: the run stops. */
export class TableChangedError extends Error {
  override readonly name = 'TableChangedError';
}

/**
 * Row-level security turned on, or (archive mode) columns added or dropped, since the run
 * planned the job: judging with rows hidden would lose transitions, and archiving with the
 * planned column list would leave the new columns' values behind. Nothing of the batch is
 * removed; the next run refuses the first (exit 2, as `check` says) and adds the columns to
 * the archive table before it archives anything.
 */
async function expectTableAsPlanned(c: pg.ClientBase, plan: JobPlan): Promise<void> {
  const { rows } = await c.query<{ rowSecurity: boolean; columns: string[] }>(tableStateStatement(plan));
  const state = rows[0];
  if (state?.rowSecurity) {
    throw new TableChangedError(
      `${formatName(plan.job.table)}: row-level security became active for this role while the run was going ` +
        'on: a history judged with rows hidden loses transitions, so nothing of this batch was removed and the ' +
        'run stops; `status-reconciler check` says what to do',
    );
  }
  const planned = plan.columns.map((col) => col.name);
  if (plan.job.mode === 'archive' && state && state.columns.join('\u0000') !== planned.join('\u0000')) {
    const added = state.columns.filter((name) => !planned.includes(name));
    const gone = planned.filter((name) => !state.columns.includes(name));
    throw new TableChangedError(
      `${formatName(plan.job.table)}: its columns changed while the run was going on` +
        `${added.length > 0 ? ` (added: ${added.join(', ')})` : ''}${gone.length > 0 ? ` (dropped: ${gone.join(', ')})` : ''}: ` +
        'archiving with the columns planned would leave values behind, so nothing of this batch was removed and ' +
        'the run stops; the next run adds new columns to the archive table first',
    );
  }
}

/** deadlock_detected (PostgreSQL appendix A). */
const DEADLOCK_DETECTED = '40P01';
/**
 * serialization_failure: in READ COMMITTED only a row to lock that a concurrent UPDATE moved
 * to another partition ("tuple to be locked was already moved to another partition"):
 * halving retries the batch, whose new snapshot no longer finds the row there.
 */
const MOVED_TO_ANOTHER_PARTITION = '40001';

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
 * lock_timeout, a deadlock, or a row moved to another partition, in the statements that
 * lock or remove rows.
 */
export function isRowLockFailure(error: unknown): boolean {
  if (error instanceof TableLockError) return false;
  const code = (error as { code?: string }).code;
  return (
    code === SQLSTATE.lockNotAvailable || code === DEADLOCK_DETECTED || code === MOVED_TO_ANOTHER_PARTITION
  );
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
  held: readonly number[],
): Promise<number[]> {
  const got = new Set(held);
  const missing = duplicates.map((_, i) => i).filter((i) => !got.has(i));
  if (missing.length === 0) return [];
  const { rows } = await c.query<{ ord: number }>(presentStatement(plan, places(duplicates, missing)));
  return rows.map((r) => missing[r.ord] as number);
}

function places<T>(all: readonly T[], ords: Iterable<number>): T[] {
  return [...new Set(ords)].sort((a, b) => a - b).map((i) => all[i] as T);
}

/**
 * `history` lookup: the time ranges the batch reads its objects' rows in (src/sql/stretch.ts),
 * computed by the server from the duplicates' stretches; undefined for the `order` lookup.
 */
async function readStretches(
  c: pg.ClientBase,
  plan: JobPlan,
  duplicates: readonly DuplicateRef[],
): Promise<Stretches | undefined> {
  if (plan.predecessorLookup !== 'history') return undefined;
  const { rows } = await c.query<TimeRange>(stretchRangesStatement(plan, duplicates));
  return { ranges: rows, batch: duplicates };
}

/**
 * The batch's places grouped by Citus shard (one group off Citus): each group's statements
 * name only that shard, so that Citus sends each whole to the shard's worker.
 */
async function shardGroups(
  c: pg.ClientBase,
  plan: JobPlan,
  duplicates: readonly DuplicateRef[],
): Promise<number[][]> {
  const all = duplicates.map((_, i) => i);
  if (plan.citus === undefined) return [all];
  const { rows } = await c.query<{ shard: string }>(shardsStatement(plan, duplicates));
  const groups = new Map<string, number[]>();
  rows.forEach((row, i) => {
    const group = groups.get(row.shard) ?? [];
    group.push(i);
    groups.set(row.shard, group);
  });
  return [...groups.values()];
}

/**
 * One attempt at a batch, in one short transaction (lock_timeout and statement_timeout
 * set), statement by statement:
 * 1. renew the lease (first: a runner that lost it commits nothing);
 * 2. LOCK the history (and archive) table ROW EXCLUSIVE: a table-level lock waits here;
 * 3. read the foreign keys that reference the table (exact now: see readReferences);
 * 4. lock the duplicates FOR UPDATE SKIP LOCKED, by the partition and ctid the scan saw:
 *    those other sessions hold are left out, without waiting;
 * 5. remove the locked ones, each re-verified against its current predecessor (locked FOR
 *    SHARE, waited for up to lock_timeout: a 55P03 or a deadlock here fails the attempt, and
 *    the caller halves the batch), keeping what some row references (a new statement: its
 *    snapshot sees every referencing row committed before 4). Without references, 4 and 5
 *    are one statement (measured at 2M rows: 73 ms a batch of 5,000 against 26 + 62);
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
    if (plan.citus !== undefined) {
      for (const text of workerSettingsStatements(batchSettings(plan.job))) await c.query(text);
    }
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
    await expectTableAsPlanned(c, plan);

    let result: CollapseRow;
    let busy: number[];
    if (references.length === 0) {
      // One statement locks, re-verifies and removes (src/sql/collapse.ts, CollapseSource);
      // on Citus one per shard of the batch, each sent whole to its worker (src/sql/citus.ts).
      result = { removed: 0, referenced: [], byReference: [], locked: null };
      busy = [];
      for (const places of await shardGroups(c, plan, duplicates)) {
        const group = places.map((i) => duplicates[i] as DuplicateRef);
        const stretches = await readStretches(c, plan, group);
        const { rows } = await c.query<CollapseRow>(
          collapseStatement(plan, { kind: 'lockHere', batch: group }, references, stretches),
        );
        const row = rows[0] as CollapseRow;
        if (row.doomed !== undefined && row.doomed.length > 0) {
          // Archive mode on Citus: the judged rows move in a statement of their own.
          const doomed = row.doomed.map((i) => group[i] as DuplicateRef);
          const moved = await c.query<{ removed: number }>(moveStatement(plan, doomed, row.repeated ?? []));
          row.removed = moved.rows[0]?.removed ?? 0;
        }
        result.removed += row.removed;
        result.referenced.push(...row.referenced.map((i) => places[i] as number));
        busy.push(
          ...(await lockedByOthers(c, plan, group, row.locked ?? [])).map((i) => places[i] as number),
        );
      }
    } else {
      const stretches = await readStretches(c, plan, duplicates);
      const { rows: held } = await c.query<LockedRow>(lockTargetsStatement(plan, duplicates));
      busy = await lockedByOthers(
        c,
        plan,
        duplicates,
        held.map((r) => r.ord),
      );
      result = { removed: 0, referenced: [], byReference: references.map(() => 0), locked: null };
      if (held.length > 0) {
        const { rows } = await c.query<CollapseRow>(
          collapseStatement(plan, { kind: 'locked', rows: held }, references, stretches),
        );
        result = rows[0] as CollapseRow;
      }
    }
    await c.query(
      addTotalsStatement(jobStateKey(plan.job), { ...counted, duplicatesRemoved: result.removed }),
    );
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
    await c.query(addTotalsStatement(jobStateKey(plan.job), { ...counted, duplicatesRemoved: 0 }));
  });
}
