import type { Connection } from '../db/connect.js';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { estimatedRowsStatement, scanStatement, type ScanWindow } from '../sql/scan.js';
import { BatchRemover } from './batchRemover.js';
import type { Lease } from './lease.js';
import type { PassCounts } from './passCounts.js';
import { ProgressReporter, type PassProgress } from './progress.js';
import type { RunWatch } from './runWatch.js';
import { streamScan } from './streamScan.js';

/** How often the scan looks whether the lease is due for renewal while nothing else does. */
const LEASE_CHECK_MS = 5000;

export interface RemoveOptions {
  dryRun: boolean;
  signal: AbortSignal | undefined;
  /** The job's lease (none on a dry run): every batch renews it, and so does a long scan. */
  lease: Lease | undefined;
  log: Logger;
  /** What the pass waits for (the scan, a batch, the lease), for the stall warning and runTimeout. */
  watch: RunWatch;
  /** Told of the scan's start and of each chunk (the terminal's progress bar). */
  progress?: PassProgress | undefined;
}

/**
 * The pass proper: streams the duplicates below the horizon (scanner) and removes them in
 * re-verified batches (writer), counting into `counts` as it goes, so a pass that fails
 * half-way still reports what it committed. Stopping (the signal): the batch in flight
 * settles, the partial one is left for the next run rather than started after the stop.
 */
export async function removeDuplicates(
  connections: { writer: Connection; scanner: Connection },
  plan: JobPlan,
  window: ScanWindow,
  counts: PassCounts,
  options: RemoveOptions,
): Promise<void> {
  const { writer, scanner } = connections;
  const { watch } = options;
  const estimate =
    window.from === undefined
      ? await watch.during('the row estimate', writer, () => estimatedRows(writer, plan))
      : undefined;
  const expected = estimate?.rows;
  // Where the scan's output is in the table, for the terminal's bar (rows examined are known
  // only at each object's last row, which the scan sends after every duplicate): duplicates
  // come in physical order, so the page of the latest one over the table's pages is the share
  // of the table behind it. A partitioned table has no pages of its own: no such share.
  let passed = 0;
  const progress = new ProgressReporter(options.log, 5000, expected);
  options.progress?.scanStarted(expected);
  const batches = watch.watched(new BatchRemover(writer, plan, counts, options.lease), writer, {
    add: 'a batch',
    flush: 'a batch',
    finish: 'a batch',
    settle: 'a batch',
    renewLeaseIfDue: 'the lease',
  });
  // Output columns of the scan: key..., orderBy..., dup, gap, examined, behind, table, tid, stretchFrom.
  const keys = plan.key.length;
  const orders = plan.orderBy.length;
  const [dup, gap, examined, behind, table, tid, stretchFrom] = [0, 1, 2, 3, 4, 5, 6].map(
    (i) => keys + orders + i,
  ) as [number, number, number, number, number, number, number];

  const opened = performance.now();
  // The scan's first read waits for its whole sort (minutes on a large table): the lease is
  // renewed meanwhile, as between reads.
  const renewal = setInterval(() => void batches.renewLeaseIfDue().catch(() => undefined), LEASE_CHECK_MS);
  try {
    const scan = streamScan(scanner, scanStatement(plan, window), {
      timeZone: plan.job.timeZone,
      full: window.from === undefined,
    });
    for await (const rows of watch.scan(scanner, scan)) {
      for (const row of rows) {
        if (row[dup] === 't') {
          const seconds = row[gap];
          counts.found(
            seconds === null || seconds === undefined ? null : Number(seconds),
            row[behind] === 't',
          );
          const orderBy = row.slice(keys, keys + orders) as string[];
          await batches.add({
            key: row.slice(0, keys) as string[],
            orderBy,
            table: row[table] as string,
            tid: row[tid] as string,
            stretchFrom: row[stretchFrom] as string | null,
          });
          if (estimate?.pages) {
            const page = Number(/^\((\d+),/.exec(row[tid] as string)?.[1] ?? 0);
            passed = Math.max(passed, Math.min(1, page / estimate.pages));
          }
        }
        const n = row[examined];
        if (n !== null && n !== undefined) counts.examined(Number(n));
      }
      progress.maybeReport(counts);
      options.progress?.progressed(
        expected === undefined
          ? counts
          : { ...counts, rowsExamined: Math.max(counts.rowsExamined, Math.round(passed * expected)) },
      );
      await batches.renewLeaseIfDue();
      if (options.signal?.aborted) break;
      // The writer holds the job's lock: once it is gone, stop rather than hold the snapshot.
      if (writer.failure) throw writer.failure;
    }
  } catch (error) {
    // Whatever failed, the batch in flight settles before the pass reports what it did.
    await batches.settle().catch(() => undefined);
    throw error;
  } finally {
    clearInterval(renewal);
    counts.snapshotSeconds = (performance.now() - opened) / 1000;
  }
  // The last batch, and one more try of the rows passed over as locked (BatchRemover.finish).
  if (!options.signal?.aborted) await batches.finish();
  await batches.settle();
}

async function estimatedRows(
  writer: Connection,
  plan: JobPlan,
): Promise<{ rows: number; pages: number } | undefined> {
  const { rows } = await writer.client.query<{ n: string; pages: number }>(estimatedRowsStatement(plan));
  const n = Number(rows[0]?.n);
  return n > 0 ? { rows: n, pages: Number(rows[0]?.pages ?? 0) } : undefined;
}
