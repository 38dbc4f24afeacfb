import type pg from 'pg';
import type { Connection } from '../../src/db/connect.js';
import type { JobPlan } from '../../src/db/plan.js';
import { attemptBatch, NOTHING_COUNTED } from '../../src/reconcile/batchCommit.js';
import { Lease } from '../../src/reconcile/lease.js';
import { streamScan } from '../../src/reconcile/streamScan.js';
import type { DuplicateRef } from '../../src/sql/batchRows.js';
import { scanStatement } from '../../src/sql/scan.js';

/*
 * One pass taken apart, for tests that change the table between its scan and its batches
 * as another session would: the duplicates a full scan finds (as removeDuplicates builds
 * them), and one batch committed as the runner's writer commits it, under the job's lease.
 */

/** The duplicates a full scan of the standard table finds now (key object_id, orderBy start_date, id), by id. */
export async function scanDuplicates(scanner: Connection, plan: JobPlan): Promise<DuplicateRef[]> {
  const found: DuplicateRef[] = [];
  const statement = scanStatement(plan, {
    horizon: '2100-01-01 00:00:00+00',
    from: undefined,
    stored: undefined,
  });
  for await (const rows of streamScan(scanner, statement, { timeZone: undefined, full: true })) {
    for (const row of rows) {
      if (row[3] !== 't') continue; // key, orderBy (2), dup, gap, examined, behind, table, tid, stretchFrom
      found.push({
        key: [row[0] as string],
        orderBy: [row[1], row[2]] as string[],
        table: row[7] as string,
        tid: row[8] as string,
        stretchFrom: row[9] as string | null,
      });
    }
  }
  // The scan sends them in descending physical order; tests name them in history order.
  return found.sort((a, b) => Number(a.orderBy[1]) - Number(b.orderBy[1]));
}

/** Commits batches on `writer` under the job's lease, taken at the first batch. */
export class BatchRunner {
  private lease: Lease | undefined;

  constructor(private readonly writer: pg.ClientBase) {}

  /** One batch; resolves to the rows it removed. */
  async batch(plan: JobPlan, duplicates: DuplicateRef[]): Promise<number> {
    if (this.lease === undefined) {
      const acquired = await Lease.acquire(this.writer, plan.job);
      if (!(acquired instanceof Lease)) throw new Error('no lease');
      this.lease = acquired;
    }
    const outcome = await attemptBatch(this.writer, plan, this.lease, duplicates, NOTHING_COUNTED);
    return outcome.removed;
  }
}
