/**
 * One measured contender, alone in its own process so that its memory is its own:
 *   node --expose-gc --import tsx bench/peer.ts '<ChildSpec as JSON>'
 * prints one line `BENCH_RESULT {...}` (a ChildResult) on stdout and exits.
 *
 * Contenders:
 * - reconciler: our pass, through runJobs() exactly as the CLI runs it;
 * - naive-stream: what a hand-written tool would do: pg-cursor over every row in history
 *   order, the comparison done in Node;
 * - chunked: key ranges of N objects per query, each query its own short snapshot, LAG in
 *   the server per chunk, only the duplicates sent back;
 * - load-all: one plain query of the whole table into memory, the comparison in Node;
 * - peer-delete: what a PostgreSQL user schedules with pg_cron instead of this tool, one
 *   statement: DELETE ... WHERE id IN (SELECT id ... lag(status_id) OVER ... = status_id),
 *   autocommit, the server's default plan;
 * - reconciler-stream: our incremental real passes, one started every second (for the
 *   writers' throughput measured meanwhile).
 * The read-only peers only find the duplicates (they change nothing); they count them so the
 * orchestrator can check they agree with us.
 */
import pg from 'pg';
import Cursor from 'pg-cursor';
import { parseJob } from '../src/config/job.js';
import { createLogger } from '../src/log.js';
import { runJobs } from '../src/reconcile/runJobs.js';
import { peerDeleteSql } from './peerSql.js';
import {
  RESULT_PREFIX,
  type ChildResult,
  type ChildSpec,
  type PeerSpec,
  type ReconcilerSpec,
  type ReconcilerStreamSpec,
} from './protocol.js';

const SAMPLE_MS = 50;
const READ_ROWS = 1000; // as the reconciler's scan

interface Work {
  outcome: 'success' | 'failure';
  error?: string;
  rows: number;
  duplicatesFound: number;
  duplicatesRemoved: number;
  snapshotSeconds: number;
  statements: number;
  slowestPassSeconds?: number;
  failedPasses?: number;
  longestBatchSeconds?: number;
}

/** RSS and heap every 50 ms, plus the kernel's high-water mark for what sampling misses. */
class MemorySampler {
  peakRss = 0;
  peakHeap = 0;
  samples = 0;
  readonly baselineRss: number;
  readonly baselineHeap: number;
  private readonly baselineMaxRssKb: number;
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    const m = process.memoryUsage();
    this.baselineRss = m.rss;
    this.baselineHeap = m.heapUsed;
    this.baselineMaxRssKb = process.resourceUsage().maxRSS;
    this.sample();
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  private sample(): void {
    const m = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, m.rss);
    this.peakHeap = Math.max(this.peakHeap, m.heapUsed);
    this.samples += 1;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
    // If the process's high-water mark rose during the work, that rise is the true peak.
    const maxRssKb = process.resourceUsage().maxRSS;
    if (maxRssKb > this.baselineMaxRssKb) this.peakRss = Math.max(this.peakRss, maxRssKb * 1024);
  }
}

function historySql(table: string): string {
  return `SELECT id, object_id, status_id, start_date FROM ${table} ORDER BY object_id, start_date, id`;
}

interface HistoryRow {
  id: string;
  object_id: number | null;
  status_id: number | null;
  start_date: Date | null;
}

/** The comparison a hand-written tool does: same object as the row before, same status. */
class DuplicateCounter {
  rows = 0;
  duplicates = 0;
  private started = false;
  private object: number | null = null;
  private status: number | null = null;

  add(row: HistoryRow): void {
    this.rows += 1;
    if (this.started && row.object_id === this.object && row.status_id === this.status) this.duplicates += 1;
    this.started = true;
    this.object = row.object_id;
    this.status = row.status_id;
  }
}

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: 'status-reconciler-bench' });
  await c.connect();
  return c;
}

async function naiveStream(spec: PeerSpec): Promise<Work> {
  const c = await client(spec.url);
  try {
    const counter = new DuplicateCounter();
    const opened = performance.now();
    const cursor = c.query(new Cursor<HistoryRow>(historySql(spec.table)));
    for (;;) {
      const rows = await cursor.read(READ_ROWS);
      if (rows.length === 0) break;
      for (const row of rows) counter.add(row);
    }
    await cursor.close();
    const snapshotSeconds = (performance.now() - opened) / 1000;
    return counted(counter, snapshotSeconds);
  } finally {
    await c.end();
  }
}

/** What a one-statement, read-only peer did. */
function counted(counter: DuplicateCounter, snapshotSeconds: number): Work {
  return {
    outcome: 'success',
    rows: counter.rows,
    duplicatesFound: counter.duplicates,
    duplicatesRemoved: 0,
    snapshotSeconds,
    statements: 1,
  };
}

async function loadAll(spec: PeerSpec): Promise<Work> {
  const c = await client(spec.url);
  try {
    const counter = new DuplicateCounter();
    const opened = performance.now();
    const { rows } = await c.query<HistoryRow>(historySql(spec.table));
    const snapshotSeconds = (performance.now() - opened) / 1000;
    for (const row of rows) counter.add(row);
    return counted(counter, snapshotSeconds);
  } finally {
    await c.end();
  }
}

async function chunked(spec: PeerSpec): Promise<Work> {
  const c = await client(spec.url);
  const size = spec.chunkObjects ?? 2500;
  try {
    const { rows: bounds } = await c.query<{ lo: number | null; hi: number | null }>(
      `SELECT min(object_id) AS lo, max(object_id) AS hi FROM ${spec.table}`,
    );
    const lo = bounds[0]?.lo ?? 0;
    const hi = bounds[0]?.hi ?? -1;
    let duplicates = 0;
    let rows = 0;
    let longest = 0;
    let statements = 0;
    // Each chunk is one autocommit statement: its own snapshot, released when it ends.
    // Like the reconciler's scan, only the duplicates' keys come back (as text), plus a count.
    for (let from = lo; from <= hi; from += size) {
      const started = performance.now();
      const res = await c.query<{ k0: string; o0: string; o1: string; dup: boolean; n: string | null }>(
        `SELECT k0, o0, o1, dup, n FROM (
           SELECT object_id::text AS k0, start_date::text AS o0, id::text AS o1,
                  (row_number() OVER w > 1 AND (lag(status_id) OVER w) IS NOT DISTINCT FROM status_id) AS dup,
                  CASE WHEN (lead(true) OVER w) IS NULL THEN count(*) OVER w END AS n
             FROM ${spec.table}
            WHERE object_id >= $1 AND object_id < $2
           WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)
         ) s WHERE dup OR n IS NOT NULL`,
        [from, from + size],
      );
      longest = Math.max(longest, (performance.now() - started) / 1000);
      statements += 1;
      for (const row of res.rows) {
        if (row.dup) duplicates += 1;
        if (row.n !== null) rows += Number(row.n);
      }
    }
    return {
      outcome: 'success',
      rows,
      duplicatesFound: duplicates,
      duplicatesRemoved: 0,
      snapshotSeconds: longest,
      statements,
    };
  } finally {
    await c.end();
  }
}

async function peerDelete(spec: PeerSpec): Promise<Work> {
  const c = await client(spec.url);
  try {
    const started = performance.now();
    const res = await c.query(peerDeleteSql(spec.table));
    const removed = res.rowCount ?? 0;
    return {
      outcome: 'success',
      rows: 0,
      duplicatesFound: removed,
      duplicatesRemoved: removed,
      snapshotSeconds: (performance.now() - started) / 1000,
      statements: 1,
    };
  } finally {
    await c.end();
  }
}

async function reconcilerStream(spec: ReconcilerStreamSpec): Promise<Work> {
  const job = benchJob(spec.job, spec.table, 'delete', undefined);
  const until = performance.now() + spec.durationSeconds * 1000;
  let passes = 0;
  let failed = 0;
  let found = 0;
  let removed = 0;
  let rows = 0;
  let slowest = 0;
  let longestSnapshot = 0;
  let error: string | undefined;
  while (performance.now() < until) {
    const started = performance.now();
    const [result] = await runJobs({ connectionString: spec.url }, [job], {
      dryRun: false,
      full: false,
      logger: createLogger('silent'),
    });
    const took = (performance.now() - started) / 1000;
    passes += 1;
    slowest = Math.max(slowest, took);
    if (!result || result.outcome === 'failure') {
      failed += 1;
      error ??= result?.error?.message ?? 'runJobs returned no result';
    } else {
      found += result.duplicatesFound;
      removed += result.duplicatesRemoved;
      rows += result.rowsExamined;
      longestSnapshot = Math.max(longestSnapshot, result.snapshotSeconds);
    }
    const next = started + spec.intervalSeconds * 1000;
    const wait = Math.min(next, until) - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return {
    outcome: failed > 0 ? 'failure' : 'success',
    ...(error ? { error: `${failed} of ${passes} passes failed, the first: ${error}` } : {}),
    rows,
    duplicatesFound: found,
    duplicatesRemoved: removed,
    snapshotSeconds: longestSnapshot,
    statements: passes,
    slowestPassSeconds: slowest,
    failedPasses: failed,
  };
}

function benchJob(
  name: string,
  table: string,
  mode: 'delete' | 'archive',
  archiveTable: string | undefined,
  batchPauseMs = 0,
) {
  return parseJob(
    {
      name,
      table,
      key: ['object_id'],
      orderBy: ['start_date', 'id'],
      compare: ['status_id'],
      mode,
      ...(archiveTable ? { archiveTable } : {}),
      settleSeconds: 0,
      batchPauseMs,
    },
    'bench',
  );
}

async function reconciler(spec: ReconcilerSpec): Promise<Work> {
  const job = benchJob(spec.job, spec.table, spec.mode, spec.archiveTable, spec.batchPauseMs);
  const [result] = await runJobs({ connectionString: spec.url }, [job], {
    dryRun: spec.dryRun,
    full: spec.full,
    logger: createLogger('silent'),
  });
  if (!result) throw new Error('runJobs returned no result');
  return {
    outcome: result.outcome === 'failure' ? 'failure' : 'success',
    ...(result.error ? { error: result.error.message } : {}),
    rows: result.rowsExamined,
    duplicatesFound: result.duplicatesFound,
    duplicatesRemoved: result.duplicatesRemoved,
    snapshotSeconds: result.snapshotSeconds,
    statements: result.batches,
    longestBatchSeconds: result.longestBatchSeconds,
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as ChildSpec;
  globalThis.gc?.();
  const memory = new MemorySampler();
  memory.start();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  let work: Work;
  let extra: Pick<ChildResult, 'slowestPassSeconds' | 'failedPasses'> = {};
  try {
    switch (spec.kind) {
      case 'reconciler':
        work = await reconciler(spec);
        break;
      case 'naive-stream':
        work = await naiveStream(spec);
        break;
      case 'chunked':
        work = await chunked(spec);
        break;
      case 'load-all':
        work = await loadAll(spec);
        break;
      case 'peer-delete':
        work = await peerDelete(spec);
        break;
      case 'reconciler-stream': {
        const w = await reconcilerStream(spec);
        work = w;
        extra = { slowestPassSeconds: w.slowestPassSeconds ?? 0, failedPasses: w.failedPasses ?? 0 };
        break;
      }
    }
  } catch (error) {
    work = {
      outcome: 'failure',
      error: (error as Error).message,
      rows: 0,
      duplicatesFound: 0,
      duplicatesRemoved: 0,
      snapshotSeconds: 0,
      statements: 0,
    };
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  memory.stop();
  const result: ChildResult = {
    kind: spec.kind,
    ...work,
    ...extra,
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    baselineRssBytes: memory.baselineRss,
    peakRssBytes: memory.peakRss,
    baselineHeapBytes: memory.baselineHeap,
    peakHeapBytes: memory.peakHeap,
    memorySamples: memory.samples,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

await main();
