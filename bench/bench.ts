/**
 * npm run bench: our reconciler against the ways a hand-written tool would do the same job,
 * measured in one run on the same data, per index layout. It prints ratios against our own
 * full pass in the same run (the machine is shared: absolute times move, ratios less so),
 * and checks the results: every real pass must leave no consecutive duplicate and lose no
 * row, and every contender must find the same duplicates. Exit code 1 if a check fails.
 *
 * Per layout, in this order: the read-only contenders and the floor's find plans on one copy
 * (bench/floor.ts); our archive-mode pass on it; the one-statement peer DELETE on a fresh
 * copy (checked as ours); the floor's DELETE of precomputed ids on a fresh copy; our
 * delete-mode pass on a fresh copy; the incremental part on that table; the steady state (one
 * tick's growth: our incremental pass, then the peer's full DELETE, on the same table); the
 * writers' throughput with pgbench (bench/writers.ts). Per size (BENCH_SIZES): the tables of
 * each layout, a summary against the peer and the floor, the floor's plans, the writers'
 * table; at the end the steady-state table (a row per size and layout) and the race under
 * racing writers (bench/race.ts).
 *
 * Settings: see bench/config.ts (BENCH_DATABASE_URL, BENCH_ROWS, BENCH_OBJECTS, ...).
 * Results and how to read them: BENCHMARKS.md.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../demo/embeddedPostgres.js';
import { runChild } from './child.js';
import { forSize, growthPerTick, LAYOUTS, readConfig, type BenchConfig, type Layout } from './config.js';
import {
  addNewRows,
  ARCHIVE,
  checkPass,
  collapseBySql,
  consecutiveDuplicates,
  freshCopy,
  generate,
  serverInfo,
  TABLE,
  tempBytes,
  type Dataset,
} from './data.js';
import { combine, measureDelete, measureFind, type Floor, type FloorFind } from './floor.js';
import { peerDeleteSql } from './peerSql.js';
import type { ChildResult, ChildSpec } from './protocol.js';
import { markdown, raceTable, runRace, type RaceResult } from './race.js';
import { failures, PEER_DELETE, table, type Group, type Measurement } from './report.js';
import { Pgbench, pgbenchVersion, type WindowTps } from './writers.js';

const OURS_FULL_DRY = 'ours: full pass, dry run (scan only)';
const OURS_FULL_DRY_GROWN = 'ours: --full pass, dry run';
const OURS_FULL_DELETE = 'ours: full pass, delete mode';
const INC_REAL = 'ours: incremental pass, delete mode';
const TICK_OURS = 'ours: incremental pass after one tick';
const TICK_PEER = 'peer: one-statement DELETE after one tick';
const TICK_SECONDS = 300;

/** The steady state of one layout at one size: the cost of one 5-minute tick. */
interface SteadyRow {
  rows: number;
  layout: Layout;
  growth: number;
  ours: ChildResult;
  peer: ChildResult;
}

/** The batchPauseMs of the second full pass under pgbench: what bounding our impact costs and buys. */
const WRITERS_PAUSE_MS = 200;

/** Writers' throughput (pgbench) on one layout. */
interface WritersRow {
  layout: Layout;
  /** Idle before the contenders (right after the copy's CHECKPOINT) and after them. */
  idleBefore: WindowTps;
  idleAfter: WindowTps;
  /** The mean of both: what the ratios are taken against. */
  idle: WindowTps;
  full: { tps: WindowTps; result: ChildResult };
  /** Our full pass again, with the job's batchPauseMs at WRITERS_PAUSE_MS. */
  paused: { tps: WindowTps; result: ChildResult };
  stream: { tps: WindowTps; result: ChildResult };
  peer: { tps: WindowTps; result: ChildResult };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A contender that did not report (killed after BENCH_CHILD_SECONDS, crashed): a failure. */
function failedResult(spec: ChildSpec, error: string, wallSeconds: number): ChildResult {
  return {
    kind: spec.kind,
    outcome: 'failure',
    error,
    wallSeconds,
    rows: 0,
    duplicatesFound: 0,
    duplicatesRemoved: 0,
    snapshotSeconds: 0,
    cpuSeconds: 0,
    statements: 0,
    baselineRssBytes: 0,
    peakRssBytes: 0,
    baselineHeapBytes: 0,
    peakHeapBytes: 0,
    memorySamples: 0,
  };
}

function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function median(results: ChildResult[]): ChildResult {
  const sorted = [...results].sort((a, b) => a.wallSeconds - b.wallSeconds);
  return sorted[Math.floor((sorted.length - 1) / 2)] as ChildResult;
}

class Bench {
  readonly measurements: Measurement[] = [];
  readonly problems: string[] = [];
  readonly floors = new Map<Layout, Floor>();
  readonly steady: SteadyRow[] = [];
  readonly writers: WritersRow[] = [];
  /** Unix seconds at which the last contender's child process ended (for the writers' windows). */
  private lastChildEnd = 0;
  pgbench: string | undefined;

  constructor(
    private readonly c: pg.Client,
    private readonly url: string,
    private readonly config: BenchConfig,
    private readonly dataset: Dataset,
  ) {}

  /**
   * Runs a contender (repeat times if asked), records the median, returns it. With `guard`,
   * a statement of the contender still running after guardSeconds is cancelled.
   */
  async measure(
    layout: Layout,
    group: Group,
    name: string,
    baseline: string | undefined,
    spec: ChildSpec,
    options: { repeat?: number; guard?: boolean } = {},
  ): Promise<ChildResult> {
    const repeat = options.repeat ?? 1;
    const results: ChildResult[] = [];
    let temp = 0;
    let cancelled = false;
    for (let i = 0; i < repeat; i += 1) {
      const before = await tempBytes(this.c);
      const watchdog = options.guard
        ? setInterval(() => {
            void this.cancelLongStatements().then((n) => {
              cancelled ||= n > 0;
            });
          }, 1000)
        : undefined;
      const started = performance.now();
      try {
        results.push(await runChild(spec, this.config.childSeconds));
      } catch (error) {
        // Killed (BENCH_CHILD_SECONDS) or crashed: an outcome, reported as such; its server
        // backends may still be running its statement, so they go too.
        const wall = (performance.now() - started) / 1000;
        results.push(failedResult(spec, `no result: ${(error as Error).message.slice(0, 300)}`, wall));
        await this.terminateContenders();
      } finally {
        clearInterval(watchdog);
        this.lastChildEnd = Date.now() / 1000;
      }
      await new Promise((resolve) => setTimeout(resolve, 250)); // the child's backends flush their stats on exit
      temp = (await tempBytes(this.c)) - before;
    }
    const result = median(results);
    const counts = new Set(results.filter((r) => r.outcome === 'success').map((r) => r.duplicatesFound));
    if (counts.size > 1) {
      this.problems.push(`${layout} / ${name}: its runs found different counts: ${[...counts].join(', ')}`);
    }
    const note = cancelled
      ? `a statement ran over ${this.config.guardSeconds} s and was cancelled by the bench (BENCH_GUARD_SECONDS)`
      : undefined;
    this.measurements.push({ layout, group, name, baseline, result, tempBytes: temp, runs: repeat, note });
    const verdict = result.outcome === 'success' ? 'ok' : `FAILED: ${result.error ?? ''}`;
    progress(`  ${name}: ${result.wallSeconds.toFixed(2)} s, ${result.duplicatesFound} found, ${verdict}`);
    return result;
  }

  /** Cancels the reconciler's statements that have run longer than the guard; returns how many. */
  async cancelLongStatements(): Promise<number> {
    const { rows } = await this.c.query(
      `SELECT pg_cancel_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND application_name LIKE 'status-reconciler%' AND state = 'active'
          AND now() - query_start > make_interval(secs => $1)`,
      [this.config.guardSeconds],
    );
    return rows.length;
  }

  /** Ends every backend of a contender (not pgbench's, not ours). */
  async terminateContenders(): Promise<void> {
    await this.c.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND application_name LIKE 'status-reconciler%'
          AND application_name NOT IN ('status-reconciler-bench-setup', 'status-reconciler-bench-pgbench')`,
    );
  }

  expectFound(layout: Layout, name: string, result: ChildResult, expected: number): void {
    if (result.outcome === 'success' && result.duplicatesFound !== expected) {
      this.problems.push(
        `${layout} / ${name}: found ${result.duplicatesFound} duplicates, expected ${expected}`,
      );
    }
  }

  async check(layout: Layout, name: string, problems: Promise<string[]>): Promise<void> {
    for (const p of await problems) this.problems.push(`${layout} / ${name}: ${p}`);
  }

  ours(job: string, mode: 'delete' | 'archive', dryRun: boolean, full: boolean): ChildSpec {
    return {
      kind: 'reconciler',
      url: this.url,
      table: TABLE,
      job,
      mode,
      ...(mode === 'archive' ? { archiveTable: ARCHIVE } : {}),
      dryRun,
      full,
    };
  }

  async layout(layout: Layout): Promise<void> {
    const { c, config, dataset } = this;
    const truth = dataset.duplicates;
    progress(`layout ${layout}: ${LAYOUTS[layout].title}`);

    // 1. Read-only contenders on one copy: they change nothing.
    await freshCopy(c, layout);
    const peers: [string, ChildSpec][] = [
      [
        'peer: naive stream (pg-cursor, compare in Node)',
        { kind: 'naive-stream', url: this.url, table: TABLE },
      ],
      ...config.chunkObjects.map((n): [string, ChildSpec] => [
        `peer: chunked by key range (${n} objects/query, LAG)`,
        { kind: 'chunked', url: this.url, table: TABLE, chunkObjects: n },
      ]),
      [
        'peer: load all (one plain query, compare in Node)',
        { kind: 'load-all', url: this.url, table: TABLE },
      ],
    ];
    const dry = await this.measure(
      layout,
      'full scan',
      OURS_FULL_DRY,
      undefined,
      this.ours(`bench-${layout}-archive`, 'archive', true, true),
      { repeat: config.repeat },
    );
    this.expectFound(layout, OURS_FULL_DRY, dry, truth);
    for (const [name, spec] of peers) {
      const result = await this.measure(layout, 'full scan', name, OURS_FULL_DRY, spec, {
        repeat: config.repeat,
      });
      this.expectFound(layout, name, result, truth);
    }
    const find = config.floor ? await this.floorFind(layout) : undefined;

    // 2. Real passes, each on a fresh copy (the dry runs above left this one untouched).
    const archiveName = 'ours: full pass, archive mode';
    const archived = await this.measure(
      layout,
      'real pass',
      archiveName,
      OURS_FULL_DRY,
      this.ours(`bench-${layout}-archive`, 'archive', false, true),
    );
    this.expectFound(layout, archiveName, archived, truth);
    await this.check(
      layout,
      archiveName,
      checkPass(c, {
        before: 'bench_src',
        truth: 'truth_dup',
        archive: true,
        removed: archived.duplicatesRemoved,
        succeeded: archived.outcome === 'success',
      }),
    );

    // The one-statement peer, a real DELETE, on a fresh copy, checked as ours.
    await freshCopy(c, layout);
    const peer = await this.measure(layout, 'real pass', PEER_DELETE, OURS_FULL_DRY, {
      kind: 'peer-delete',
      url: this.url,
      table: TABLE,
    });
    this.expectFound(layout, PEER_DELETE, peer, truth);
    await this.check(
      layout,
      PEER_DELETE,
      checkPass(c, {
        before: 'bench_src',
        truth: 'truth_dup',
        archive: false,
        removed: peer.duplicatesRemoved,
        succeeded: peer.outcome === 'success',
      }),
    );

    // The floor's second half: deleting the precomputed ids, on a fresh copy.
    if (find) {
      await freshCopy(c, layout);
      const del = await measureDelete(c, 'truth_dup');
      progress(`  floor (b): DELETE of ${del.deleted} precomputed ids: ${del.seconds.toFixed(2)} s`);
      if (del.deleted !== truth)
        this.problems.push(`${layout} / floor delete: ${del.deleted} rows, expected ${truth}`);
      this.floors.set(layout, combine(find, del));
    }

    await freshCopy(c, layout);
    const deleteName = OURS_FULL_DELETE;
    const deleted = await this.measure(
      layout,
      'real pass',
      deleteName,
      OURS_FULL_DRY,
      this.ours(`bench-${layout}-delete`, 'delete', false, true),
    );
    this.expectFound(layout, deleteName, deleted, truth);
    await this.check(
      layout,
      deleteName,
      checkPass(c, {
        before: 'bench_src',
        truth: 'truth_dup',
        archive: false,
        removed: deleted.duplicatesRemoved,
        succeeded: deleted.outcome === 'success',
      }),
    );

    // 3. Incremental: a checkpoint from a completed pass over the clean table, then new rows.
    const job = `bench-${layout}-incremental`;
    await this.incremental(layout, job, deleted);
    // 4. Steady state: one tick's growth, our incremental pass against the peer's full DELETE.
    await this.steadyState(layout, job);
    // 5. Writers' throughput with pgbench.
    if (config.writersLayouts.includes(layout) && this.pgbench) await this.writersFor(layout);
  }

  /** Floor (a): the read-only statements on the current copy. */
  async floorFind(layout: Layout): Promise<FloorFind> {
    const find = await measureFind(this.c, layout, this.config.repeat);
    for (const p of find.plans) {
      progress(`  floor (a) ${p.name}: ${p.seconds.toFixed(2)} s, ${p.found} found [${p.plan}]`);
      if (p.found !== this.dataset.duplicates) {
        this.problems.push(
          `${layout} / floor ${p.name}: found ${p.found}, expected ${this.dataset.duplicates}`,
        );
      }
    }
    return find;
  }

  async incremental(layout: Layout, job: string, deleted: ChildResult): Promise<void> {
    const { c, config, dataset } = this;
    if (deleted.outcome !== 'success') {
      const removed = await collapseBySql(c, 'truth_dup');
      progress(`  (the delete pass failed: ${removed} duplicates removed by SQL for the incremental part)`);
    }
    const clean = await this.measure(
      layout,
      'incremental',
      'ours: --full real pass on the collapsed table (sets the checkpoint)',
      OURS_FULL_DRY,
      this.ours(job, 'delete', false, true),
    );
    if (clean.outcome !== 'success') {
      this.problems.push(
        `${layout}: the full pass on the collapsed table failed; no incremental measurement`,
      );
      return;
    }
    this.expectFound(layout, 'full pass on the collapsed table', clean, 0);
    const newRows = Math.max(1, Math.round(dataset.rows * config.newShare));
    const added = await addNewRows(c, newRows, dataset.objects, config.dupShare);
    progress(`  ${added.rows} new rows stamped now(), ${added.duplicates} of them consecutive duplicates`);

    const incName = 'ours: incremental pass, dry run';
    const incDry = await this.measure(
      layout,
      'incremental',
      incName,
      OURS_FULL_DRY_GROWN,
      this.ours(job, 'delete', true, false),
      { repeat: config.repeat, guard: true },
    );
    this.expectFound(layout, incName, incDry, added.duplicates);
    if (incDry.outcome === 'success' && incDry.rows !== added.rows) {
      this.problems.push(
        `${layout} / ${incName}: examined ${incDry.rows} rows, expected the ${added.rows} new`,
      );
    }
    const fullDry = await this.measure(
      layout,
      'incremental',
      OURS_FULL_DRY_GROWN,
      undefined,
      this.ours(job, 'delete', true, true),
      { repeat: config.repeat },
    );
    this.expectFound(layout, OURS_FULL_DRY_GROWN, fullDry, added.duplicates);

    if (incDry.outcome !== 'success') {
      progress('  (incremental real pass skipped: its dry run failed)');
      return;
    }
    const incRealName = INC_REAL;
    const incReal = await this.measure(
      layout,
      'incremental',
      incRealName,
      OURS_FULL_DRY_GROWN,
      this.ours(job, 'delete', false, false),
      { guard: true },
    );
    this.expectFound(layout, incRealName, incReal, added.duplicates);
    await this.check(
      layout,
      incRealName,
      checkPass(c, {
        before: 'inc_before',
        truth: 'inc_truth',
        archive: false,
        removed: incReal.duplicatesRemoved,
        succeeded: incReal.outcome === 'success',
      }),
    );
  }
  /** Brings the table back to collapsed (by SQL) if a failed pass left duplicates in it. */
  async collapseLeftovers(): Promise<void> {
    if ((await consecutiveDuplicates(this.c)) > 0) {
      const res = await this.c.query(peerDeleteSql(TABLE));
      progress(`  (${res.rowCount ?? 0} duplicates left by a failed pass removed by SQL)`);
    }
  }

  async steadyState(layout: Layout, job: string): Promise<void> {
    const { c, config, dataset } = this;
    const growth = growthPerTick(config);
    await this.collapseLeftovers();
    const oursName = `${TICK_OURS} (+${growth} rows)`;
    const peerName = `${TICK_PEER} (+${growth} rows)`;
    const first = await addNewRows(c, growth, dataset.objects, config.dupShare);
    progress(`  steady state: +${first.rows} rows (${first.duplicates} duplicates), ours`);
    const ours = await this.measure(
      layout,
      'steady state',
      oursName,
      peerName,
      this.ours(job, 'delete', false, false),
      {
        guard: true,
      },
    );
    this.expectFound(layout, oursName, ours, first.duplicates);
    await this.check(
      layout,
      oursName,
      checkPass(c, {
        before: 'inc_before',
        truth: 'inc_truth',
        archive: false,
        removed: ours.duplicatesRemoved,
        succeeded: ours.outcome === 'success',
      }),
    );
    await this.collapseLeftovers();
    const second = await addNewRows(c, growth, dataset.objects, config.dupShare);
    progress(`  steady state: +${second.rows} rows (${second.duplicates} duplicates), peer DELETE`);
    const peer = await this.measure(layout, 'steady state', peerName, undefined, {
      kind: 'peer-delete',
      url: this.url,
      table: TABLE,
    });
    this.expectFound(layout, peerName, peer, second.duplicates);
    await this.check(
      layout,
      peerName,
      checkPass(c, {
        before: 'inc_before',
        truth: 'inc_truth',
        archive: false,
        removed: peer.duplicatesRemoved,
        succeeded: peer.outcome === 'success',
      }),
    );
    this.steady.push({ rows: dataset.rows, layout, growth, ours, peer });
  }

  newPgbench(): Pgbench {
    const { config } = this;
    return new Pgbench(
      this.pgbench ?? 'pgbench',
      this.url,
      TABLE,
      this.dataset.objects,
      config.writersClients,
      config.childSeconds + config.writersSeconds + 120,
    );
  }

  /** Runs a contender while pgbench inserts; the writers' tps over the contender's window. */
  async duringPgbench(
    layout: Layout,
    name: string,
    spec: ChildSpec,
    guard: boolean,
  ): Promise<{ tps: WindowTps; result: ChildResult }> {
    const pb = this.newPgbench();
    try {
      await pb.warmUp();
      const result = await this.measure(layout, 'writers', name, undefined, spec, { guard });
      const end = this.lastChildEnd;
      await pb.stop(end); // once pgbench has reported the second that covers the end
      return { tps: pb.window(end - result.wallSeconds, end), result };
    } catch (error) {
      await pb.stop().catch(() => undefined);
      throw error;
    }
  }

  async writersFor(layout: Layout): Promise<void> {
    const { c, config } = this;
    progress(`  writers: pgbench, ${config.writersClients} clients inserting one row per transaction`);
    await freshCopy(c, layout);
    const idleBefore = await this.idleWriters();
    const job = `bench-${layout}-writers`;
    const full = await this.duringPgbench(
      layout,
      'writers: ours full pass (delete mode) while pgbench inserts',
      this.ours(job, 'delete', false, true),
      false,
    );
    await freshCopy(c, layout);
    await this.settleAfterCopy();
    const paused = await this.duringPgbench(
      layout,
      `writers: ours full pass (delete mode, batchPauseMs ${WRITERS_PAUSE_MS}) while pgbench inserts`,
      { ...this.ours(`${job}-paused`, 'delete', false, true), batchPauseMs: WRITERS_PAUSE_MS } as ChildSpec,
      false,
    );
    const stream = await this.duringPgbench(
      layout,
      `writers: ours incremental passes every 1 s for ${config.writersSeconds} s while pgbench inserts`,
      {
        kind: 'reconciler-stream',
        url: this.url,
        table: TABLE,
        job,
        intervalSeconds: 1,
        durationSeconds: config.writersSeconds,
      },
      true,
    );
    await freshCopy(c, layout);
    await this.settleAfterCopy();
    const peer = await this.duringPgbench(
      layout,
      'writers: peer one-statement DELETE while pgbench inserts',
      { kind: 'peer-delete', url: this.url, table: TABLE },
      false,
    );
    const idleAfter = await this.idleWriters();
    const both = [idleBefore.tps, idleAfter.tps].filter((t): t is number => t !== undefined);
    const idle: WindowTps = {
      tps: both.length > 0 ? both.reduce((a, b) => a + b, 0) / both.length : undefined,
      worst: undefined,
    };
    this.writers.push({ layout, idleBefore, idleAfter, idle, full, paused, stream, peer });
  }

  /**
   * After a fresh copy (and its CHECKPOINT), as long as an idle pgbench run takes, so that a
   * measurement does not start in the I/O of the copy: the first full pass has the idle run
   * before it; the others wait as long.
   */
  async settleAfterCopy(): Promise<void> {
    await sleep(this.config.writersSeconds * 1000);
  }

  /** pgbench alone for BENCH_WRITERS_SECONDS. */
  async idleWriters(): Promise<WindowTps> {
    const pb = this.newPgbench();
    await pb.warmUp();
    const from = Date.now() / 1000;
    await sleep(this.config.writersSeconds * 1000);
    const to = Date.now() / 1000;
    await pb.stop(to);
    const idle = pb.window(from, to);
    progress(`  writers idle: ${idle.tps?.toFixed(0) ?? '?'} tps`);
    return idle;
  }
}

function machine(): Record<string, string> {
  return {
    date: new Date().toISOString(),
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

const fmt = (s: number) => (s < 10 ? s.toFixed(2) : s.toFixed(1));
const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const ok = (r: ChildResult | undefined) => r !== undefined && r.outcome === 'success';
/** A time, or how it failed ("FAILED (timeout) after 30.6 s"). */
function timeOrFailure(r: ChildResult | undefined): string {
  if (!r) return '-';
  if (ok(r)) return fmt(r.wallSeconds);
  const timeout = /timeout|cancel/i.test(r.error ?? '') ? ' (timeout)' : '';
  return `FAILED${timeout} after ${fmt(r.wallSeconds)} s`;
}

/** One line per layout: ours against the one-statement DELETE and the floor; incremental share. */
function summaryTable(bench: Bench, layouts: Layout[]): string {
  const headers = [
    'layout',
    'ours full pass s (delete mode)',
    'peer DELETE s',
    'ours / peer DELETE',
    'floor (a) find s',
    'floor (b) delete s',
    'floor max(a,b) s',
    'a+b s',
    'ours / floor',
    'ours / (a+b)',
    'ours incremental s',
    'incremental / our full pass',
  ];
  const rows = layouts.map((layout) => {
    const get = (name: string) =>
      bench.measurements.find((m) => m.layout === layout && m.name === name)?.result;
    const ours = get(OURS_FULL_DELETE);
    const peer = get(PEER_DELETE);
    const inc = get(INC_REAL);
    const floor = bench.floors.get(layout);
    const both = ok(ours) && ours !== undefined;
    return [
      layout,
      timeOrFailure(ours),
      timeOrFailure(peer),
      both && ok(peer) && peer ? x(ours.wallSeconds, peer.wallSeconds) : '-',
      floor ? `${fmt(floor.find.fastest.seconds)} (${floor.find.fastest.name})` : '-',
      floor ? fmt(floor.deleteSeconds) : '-',
      floor ? fmt(floor.floor) : '-',
      floor ? fmt(floor.sum) : '-',
      both && floor ? x(ours.wallSeconds, floor.floor) : '-',
      both && floor ? x(ours.wallSeconds, floor.sum) : '-',
      timeOrFailure(inc),
      both && ok(inc) && inc ? `${((inc.wallSeconds / ours.wallSeconds) * 100).toFixed(1)}%` : '-',
    ];
  });
  return markdown(headers, rows);
}

function floorTable(bench: Bench, layouts: Layout[]): string {
  const headers = ['layout', 'floor (a): plan', 'seconds', 'ids found', 'plan nodes'];
  const rows: string[][] = [];
  for (const layout of layouts) {
    const floor = bench.floors.get(layout);
    if (!floor) continue;
    for (const p of floor.find.plans) {
      const mark = p === floor.find.fastest ? ' (fastest)' : '';
      rows.push([layout, p.name + mark, fmt(p.seconds), String(p.found), p.plan]);
    }
    rows.push([
      layout,
      '(b) DELETE ... USING precomputed ids',
      fmt(floor.deleteSeconds),
      String(floor.deleted),
      '',
    ]);
  }
  return markdown(headers, rows, (i) => i === 2 || i === 3);
}

function tps(w: WindowTps, idle: WindowTps): string {
  if (w.tps === undefined) return '-';
  const ratio = idle.tps ? ` (${(w.tps / idle.tps).toFixed(2)}x)` : '';
  const worst = w.worst !== undefined ? `, worst 1 s ${w.worst.toFixed(0)}` : '';
  return `${w.tps.toFixed(0)}${ratio}${worst}`;
}

function writersTable(rows: WritersRow[]): string {
  const headers = [
    'layout',
    'idle tps: before / after (mean)',
    'during our full pass: tps (x idle)',
    'our pass s, its longest write transaction s',
    `during our full pass, batchPauseMs ${WRITERS_PAUSE_MS}: tps (x idle)`,
    'that pass s, its longest write transaction s',
    'during our incremental stream: tps (x idle)',
    'passes (failed), slowest s',
    'during peer DELETE: tps (x idle)',
    'peer DELETE s',
  ];
  return markdown(
    headers,
    rows.map((w) => [
      w.layout,
      `${w.idleBefore.tps?.toFixed(0) ?? '-'} / ${w.idleAfter.tps?.toFixed(0) ?? '-'} (${w.idle.tps?.toFixed(0) ?? '-'})`,
      tps(w.full.tps, w.idle),
      `${timeOrFailure(w.full.result)}, ${fmt(w.full.result.longestBatchSeconds ?? 0)}`,
      tps(w.paused.tps, w.idle),
      `${timeOrFailure(w.paused.result)}, ${fmt(w.paused.result.longestBatchSeconds ?? 0)}`,
      tps(w.stream.tps, w.idle),
      `${w.stream.result.statements} (${w.stream.result.failedPasses ?? '?'}), ${fmt(w.stream.result.slowestPassSeconds ?? 0)}`,
      tps(w.peer.tps, w.idle),
      timeOrFailure(w.peer.result),
    ]),
  );
}

function steadyTable(rows: SteadyRow[]): string {
  const headers = [
    'rows',
    'layout',
    'growth per 5-min tick',
    'ours: incremental pass s',
    'peer: full DELETE s',
    'ours / peer',
    'ours: share of a tick',
    'peer: share of a tick',
  ];
  return markdown(
    headers,
    rows.map((r) => [
      String(r.rows),
      r.layout,
      `${r.growth} rows`,
      timeOrFailure(r.ours),
      timeOrFailure(r.peer),
      ok(r.ours) && ok(r.peer) ? x(r.ours.wallSeconds, r.peer.wallSeconds) : '-',
      ok(r.ours) ? `${((r.ours.wallSeconds / TICK_SECONDS) * 100).toFixed(2)}%` : '-',
      ok(r.peer) ? `${((r.peer.wallSeconds / TICK_SECONDS) * 100).toFixed(2)}%` : '-',
    ]),
    (i) => i !== 1,
  );
}

async function main(): Promise<void> {
  const config = readConfig();
  const started = performance.now();
  let embedded: EmbeddedServer | undefined;
  let adminUrl = config.databaseUrl;
  if (adminUrl === undefined) {
    progress('starting an embedded PostgreSQL (set BENCH_DATABASE_URL to use a server of your own)');
    embedded = await startEmbeddedPostgres();
    adminUrl = embedded.url;
  }
  const database = `sr_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = withDatabase(adminUrl, database);
  const c = new pg.Client({ connectionString: url, application_name: 'status-reconciler-bench-setup' });
  let exitCode = 0;
  const steady: SteadyRow[] = [];
  const json: Record<string, unknown>[] = [];
  const info = machine();
  try {
    await c.connect();
    const server = await serverInfo(c);
    progress(`PostgreSQL ${server.version}, database ${database}`);
    let pgbench: string | undefined;
    if (config.writersLayouts.length > 0 && config.race !== 'only') {
      const version = config.pgbench ? await pgbenchVersion(config.pgbench) : undefined;
      if (version) {
        pgbench = config.pgbench;
        progress(`writers: ${pgbench} (${version})`);
      } else {
        progress(
          `writers: no pgbench at ${config.pgbench ?? '?'} (BENCH_PGBENCH); the writers' table is skipped`,
        );
      }
    }
    const header = [
      `status-reconciler benchmark, ${info.date}`,
      `machine: ${info.cpus}, ${info.memory}, ${info.os}, node ${info.node}`,
      `server: PostgreSQL ${server.version}${embedded ? ' (embedded)' : ''}; ` +
        Object.entries(server.settings)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
    ];
    process.stdout.write(`\n${header.join('\n')}\n`);

    for (const size of config.race === 'only' ? [] : config.sizes) {
      const sized = forSize(config, size);
      const sizeStarted = performance.now();
      progress(`generating ${sized.rows} rows for ${sized.objects} objects`);
      const dataset = await generate(c, sized);
      progress(
        `${dataset.rows} rows, ${dataset.objects} objects, ${dataset.duplicates} consecutive duplicates ` +
          `(${dataset.racesUnderOneSecond} under 1 s, ${dataset.gapsOneSecondToOneHour} 1 s-1 h, ` +
          `${dataset.gapsOverOneHour} over 1 h)`,
      );
      const bench = new Bench(c, url, sized, dataset);
      bench.pgbench = pgbench;
      for (const layout of sized.layouts) await bench.layout(layout);
      steady.push(...bench.steady);

      const lines = [
        '',
        `## ${dataset.rows} rows`,
        '',
        `data: ${dataset.rows} rows, ${dataset.objects} objects, ${dataset.duplicates} consecutive duplicates ` +
          `(${dataset.racesUnderOneSecond} races under 1 s, ${dataset.gapsOneSecondToOneHour} from 1 s to 1 h, ` +
          `${dataset.gapsOverOneHour} over 1 h); incremental: +${sized.newShare * 100}% rows; ` +
          `steady state: +${growthPerTick(sized)} rows per tick`,
        'ratios: against "ours: full pass, dry run" of the same layout; in the incremental part, against ' +
          'the --full dry run over the same grown table; in the steady state, ours against the peer; ' +
          '"ours / peer DELETE": our full passes against the one-statement DELETE on an identical copy',
      ];
      for (const layout of sized.layouts) {
        lines.push('', `### ${layout}: ${LAYOUTS[layout].title}`, '');
        lines.push(table(bench.measurements.filter((m) => m.layout === layout)));
      }
      lines.push(
        '',
        `### ours against the one-statement DELETE and the floor (${dataset.rows} rows)`,
        '',
        "floor: (a) the fastest read-only statement returning the duplicates' ids (plans below), " +
          '(b) DELETE ... USING the precomputed ids on a fresh copy; max(a,b) if a tool overlaps them, a+b if not ' +
          '(bench/floor.ts); incremental: after +' +
          `${sized.newShare * 100}% rows, against our full pass (delete mode) over the original table`,
        '',
        summaryTable(bench, sized.layouts),
      );
      if (bench.floors.size > 0)
        lines.push('', `### floor plans (${dataset.rows} rows)`, '', floorTable(bench, sized.layouts));
      if (bench.writers.length > 0) {
        lines.push(
          '',
          `### writers' throughput (${dataset.rows} rows): pgbench, ${sized.writersClients} clients, ` +
            'one INSERT ... now() per transaction',
          '',
          `idle: ${sized.writersSeconds} s alone on a fresh copy before the contenders (right after its ` +
            'CHECKPOINT: full-page writes) and again after them; ratios against the mean of both. During each ' +
            'contender: tps weighted over its wall time (a pass under 1 s is diluted by the seconds around it); ' +
            `incremental passes every 1 s for ${sized.writersSeconds} s after our full pass set the checkpoint`,
          '',
          writersTable(bench.writers),
        );
      }
      const failed = failures(bench.measurements);
      if (failed.length > 0)
        lines.push('', 'failed passes (outcome, not a check):', ...failed.map((f) => `- ${f}`));
      lines.push('');
      if (bench.problems.length > 0) {
        lines.push('CHECKS FAILED:', ...bench.problems.map((p) => `- ${p}`));
        exitCode = 1;
      } else {
        lines.push(
          'checks: every real pass (ours and the peer DELETE) left no consecutive duplicate and lost no row ' +
            '(kept + archived/removed = before; nothing but true duplicates removed); every contender and ' +
            'every floor plan found the true duplicate count',
        );
      }
      lines.push(`time for this size: ${((performance.now() - sizeStarted) / 1000).toFixed(0)} s`);
      process.stdout.write(`${lines.join('\n')}\n`);
      json.push({
        config: sized,
        dataset,
        measurements: bench.measurements,
        floors: Object.fromEntries(bench.floors),
        writers: bench.writers,
        steady: bench.steady,
        problems: bench.problems,
      });
    }

    const lines: string[] = [];
    if (steady.length > 0) {
      lines.push(
        '',
        '## steady state: the cost of one scheduled tick (every 5 minutes)',
        '',
        "after the table was collapsed: + one tick's rows (BENCH_GROWTH_PER_TICK, default 0.1% of the rows, " +
          `${config.dupShare * 100}% of them duplicates), our incremental pass; + another tick, the peer's full DELETE`,
        '',
        steadyTable(steady),
      );
    }
    let race: RaceResult[] | undefined;
    if (config.race !== 'off') {
      const settings = {
        rows: config.raceRows,
        objects: config.raceObjects,
        writers: config.raceWriters,
        seconds: config.raceSeconds,
      };
      progress(`race: ${settings.writers} writers for ${settings.seconds} s against each contender`);
      race = await runRace(url, settings);
      lines.push('', '## correctness under racing writers', '', raceTable(race, settings));
      const ours = race.find((r) => r.contender === 'ours');
      if (!ours || ours.transitionsLost !== 0 || ours.keptRowsGone !== 0 || ours.duplicatesLeft !== 0) {
        lines.push(
          '',
          `CHECK FAILED: ours under racing writers: ${ours?.transitionsLost ?? '?'} transitions lost, ` +
            `${ours?.keptRowsGone ?? '?'} kept rows gone, ${ours?.duplicatesLeft ?? '?'} duplicates left`,
        );
        exitCode = 1;
      }
    }
    lines.push('', `total bench time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (config.jsonPath) {
      writeFileSync(config.jsonPath, JSON.stringify({ machine: info, server, sizes: json, race }, null, 2));
    }
  } finally {
    await c.end().catch(() => undefined);
    const dropper = new pg.Client({ connectionString: adminUrl });
    await dropper.connect();
    await dropper.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await dropper.end();
    await embedded?.stop();
  }
  process.exitCode = exitCode;
}

await main();
