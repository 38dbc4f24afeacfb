import type pg from 'pg';
import { formatName, jobStateKey, type Job } from './config/job.js';
import { stateSchemaExistsStatement } from './sql/stateSchema.js';
import { GAP_BUCKETS } from './sql/gapBuckets.js';
import {
  collisionWindowsStatement,
  lastSuccessStatement,
  recentRunsStatement,
  weekGapCountsStatement,
} from './sql/statusReads.js';

interface RunRow {
  started_at: Date;
  outcome: string;
  scope: string;
  rows_examined: string;
  duplicates_found: string;
  duplicates_removed: string;
  duration_seconds: number;
  horizon_lag_seconds: number | null;
  error: string | null;
}

interface WindowRow {
  window: 'day' | 'week';
  examined: string;
  found: string;
}

/** Everything `status` shows for one job, read from the reconciler's own tables. */
export interface JobStatus {
  job: Job;
  runs: RunRow[];
  windows: WindowRow[];
  lastSuccess: Date | null;
  /** Per bucket of GAP_BUCKETS plus +Inf, over the last week of runs. */
  gapCounts: number[];
}

export async function readJobStatus(client: pg.ClientBase, job: Job, runs: number): Promise<JobStatus> {
  const status: JobStatus = {
    job,
    runs: [],
    windows: [],
    lastSuccess: null,
    gapCounts: new Array<number>(GAP_BUCKETS.length + 1).fill(0),
  };
  if ((await client.query(stateSchemaExistsStatement())).rowCount === 0) return status;
  status.runs = (await client.query<RunRow>(recentRunsStatement(jobStateKey(job), runs))).rows;
  status.windows = (await client.query<WindowRow>(collisionWindowsStatement(jobStateKey(job)))).rows;
  const success = await client.query<{ at: Date | null }>(lastSuccessStatement(jobStateKey(job)));
  status.lastSuccess = success.rows[0]?.at ?? null;
  const gaps = await client.query<{ i: string; n: string }>(weekGapCountsStatement(jobStateKey(job)));
  for (const row of gaps.rows) {
    const i = Number(row.i) - 1;
    if (i >= 0 && i < status.gapCounts.length) status.gapCounts[i] = Number(row.n);
  }
  return status;
}

const number = (n: number | string): string => Number(n).toLocaleString('en-US');
const percent = (found: string, examined: string): string =>
  Number(examined) > 0 ? `${((100 * Number(found)) / Number(examined)).toFixed(2)} %` : 'n/a';
const time = (d: Date): string =>
  d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');

function ago(d: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - d.getTime()) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function bucketLabel(le: number | undefined): string {
  if (le === undefined) return '> 7 d';
  if (le < 1) return `≤ ${le * 1000} ms`;
  if (le < 60) return `≤ ${le} s`;
  if (le < 3600) return `≤ ${le / 60} min`;
  if (le < 86400) return `≤ ${le / 3600} h`;
  return `≤ ${le / 86400} d`;
}

/** The terminal rendering of one job's status. */
export function renderJobStatus(s: JobStatus, now = new Date()): string {
  const lines: string[] = [];
  const job = s.job;
  const shard = job.shard === undefined ? '' : ` [shard ${job.shard.index} of ${job.shard.count}]`;
  lines.push(`${job.name}${shard}  (${formatName(job.table)}, ${job.mode}, schedule "${job.schedule}")`);
  if (s.runs.length === 0) {
    lines.push('  no runs recorded yet');
    return lines.join('\n');
  }
  lines.push(
    `  last success      ${s.lastSuccess ? `${time(s.lastSuccess)} (${ago(s.lastSuccess, now)})` : 'never'}`,
  );
  for (const w of s.windows) {
    lines.push(
      `  collisions, ${w.window === 'day' ? 'day ' : 'week'}  ${percent(w.found, w.examined).padStart(8)}  ` +
        `(${number(w.found)} duplicates in ${number(w.examined)} rows)`,
    );
  }
  lines.push('  recent runs');
  lines.push(
    '    started               outcome   scope        examined     found   removed  duration  horizon lag',
  );
  for (const r of s.runs) {
    lines.push(
      `    ${time(r.started_at).padEnd(21)} ${r.outcome.padEnd(9)} ${r.scope.padEnd(11)} ${number(r.rows_examined).padStart(9)} ` +
        `${number(r.duplicates_found).padStart(9)} ${number(r.duplicates_removed).padStart(9)} ` +
        `${`${r.duration_seconds.toFixed(2)} s`.padStart(9)}  ${r.horizon_lag_seconds === null ? '-' : `${r.horizon_lag_seconds.toFixed(1)} s`}` +
        (r.error ? `\n      ${r.outcome === 'failure' ? 'error' : 'reason'}: ${r.error}` : ''),
    );
  }
  const total = s.gapCounts.reduce((a, b) => a + b, 0);
  lines.push(`  duplicate gaps, last week (${number(total)}): races are milliseconds, genuine repeats hours`);
  if (total === 0) {
    lines.push('    none');
  } else {
    const max = Math.max(...s.gapCounts);
    s.gapCounts.forEach((n, i) => {
      if (n === 0) return;
      const bar = '█'.repeat(Math.max(1, Math.round((30 * n) / max)));
      lines.push(`    ${bucketLabel(GAP_BUCKETS[i]).padStart(9)}  ${bar} ${number(n)}`);
    });
  }
  return lines.join('\n');
}
