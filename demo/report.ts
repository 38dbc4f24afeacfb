/* The printed report: the writers' and the reconciler's numbers, the checks, the verdict. */
import type { Job } from '../src/config/job.js';
import type { GapHistogram } from '../src/reconcile/gapHistogram.js';
import type { JobResult } from '../src/reconcile/result.js';
import { GAP_BUCKETS } from '../src/sql/gapBuckets.js';
import type { Check } from './checks.js';
import { ARCHIVE } from './database.js';
import { n, out } from './output.js';
import type { WriterStats } from './writers.js';

const row = (label: string, value: string, note = ''): string =>
  `  ${label.padEnd(22)}${value.padStart(10)}${note ? `  ${note}` : ''}`;

/** Non-empty buckets of the gap histogram, e.g. "≤1ms 120  ≤5ms 300". */
function describeGaps(gaps: GapHistogram): string {
  const label = (le: number): string => (le < 1 ? `≤${le * 1000}ms` : `≤${le}s`);
  const parts = gaps.counts.flatMap((c, i) => {
    if (c === 0) return [];
    const le = GAP_BUCKETS[i];
    return [`${le === undefined ? '>1w' : label(le)} ${n(c)}`];
  });
  return parts.join('  ');
}

export function printWriters(stats: WriterStats): void {
  out();
  out('Writers');
  out(row('transactions', n(stats.transactions)));
  out(row('rows written', n(stats.rowsWritten)));
}

/** The pass's counters; `archived` is counted in the archive table, not taken from the result. */
export function printReconciler(job: Job, result: JobResult, archived: number): void {
  out();
  out(
    `Reconciler (job ${job.name}, mode ${job.mode}, ${result.scope} pass in ${result.durationSeconds.toFixed(2)} s)`,
  );
  out(row('rows examined', n(result.rowsExamined)));
  out(row('duplicates found', n(result.duplicatesFound)));
  out(row('duplicates removed', n(result.duplicatesRemoved), `in ${n(result.batches)} batch(es)`));
  out(row('archived', n(archived), `into ${ARCHIVE}`));
  const ratio = result.rowsExamined > 0 ? (100 * result.duplicatesFound) / result.rowsExamined : 0;
  out(row('collision ratio', `${ratio.toFixed(2)} %`, 'duplicates found / rows examined'));
  out(`  ${'duplicate gaps'.padEnd(22)}${describeGaps(result.gaps)}`);
}

export function printChecks(checks: Check[]): void {
  out();
  out('Checks (computed in SQL, independently of the reconciler)');
  for (const c of checks) out(`  ${c.ok ? '✓' : '✗'} ${c.label.padEnd(34)}${c.detail}`);
}

export function printVerdict(passed: boolean): void {
  out();
  out(
    passed
      ? 'All checks passed. Try it on your own database: see "Running on your own database" in README.md.'
      : 'Some checks FAILED: please report this with the output above.',
  );
}
