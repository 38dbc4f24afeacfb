/**
 * npm run bench: our reconciler against the ways a hand-written tool would do the same job,
 * measured in one run on the same data, per index layout. It prints ratios against our own
 * full pass in the same run (the machine is shared: absolute times move, ratios less so),
 * and checks the results: every real pass must leave no consecutive duplicate and lose no
 * row, and every contender must find the same duplicates. Exit code 1 if a check fails.
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
import { LAYOUTS, readConfig, type BenchConfig, type Layout } from './config.js';
import {
  addNewRows,
  ARCHIVE,
  checkPass,
  collapseBySql,
  freshCopy,
  generate,
  serverInfo,
  TABLE,
  tempBytes,
  type Dataset,
} from './data.js';
import type { ChildResult, ChildSpec } from './protocol.js';
import { failures, table, type Group, type Measurement } from './report.js';

const OURS_FULL_DRY = 'ours: full pass, dry run (scan only)';
const OURS_FULL_DRY_GROWN = 'ours: --full pass, dry run';

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
      try {
        results.push(await runChild(spec, this.config.childSeconds));
      } finally {
        clearInterval(watchdog);
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

    await freshCopy(c, layout);
    const deleteName = 'ours: full pass, delete mode';
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
    if (deleted.outcome !== 'success') {
      const removed = await collapseBySql(c, 'truth_dup');
      progress(`  (the delete pass failed: ${removed} duplicates removed by SQL for the incremental part)`);
    }
    const job = `bench-${layout}-incremental`;
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
    const incRealName = 'ours: incremental pass, delete mode';
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
  try {
    await c.connect();
    const server = await serverInfo(c);
    progress(`PostgreSQL ${server.version}, database ${database}`);
    progress(`generating ${config.rows} rows for ${config.objects} objects`);
    const dataset = await generate(c, config);
    progress(
      `${dataset.rows} rows, ${dataset.objects} objects, ${dataset.duplicates} consecutive duplicates ` +
        `(${dataset.racesUnderOneSecond} under 1 s, ${dataset.gapsOneSecondToOneHour} 1 s-1 h, ` +
        `${dataset.gapsOverOneHour} over 1 h)`,
    );
    const bench = new Bench(c, url, config, dataset);
    for (const layout of config.layouts) await bench.layout(layout);

    const info = machine();
    const lines = [
      '',
      `status-reconciler benchmark, ${info.date}`,
      `machine: ${info.cpus}, ${info.memory}, ${info.os}, node ${info.node}`,
      `server: PostgreSQL ${server.version}${embedded ? ' (embedded)' : ''}; ` +
        Object.entries(server.settings)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
      `data: ${dataset.rows} rows, ${dataset.objects} objects, ${dataset.duplicates} consecutive duplicates ` +
        `(${dataset.racesUnderOneSecond} races under 1 s, ${dataset.gapsOneSecondToOneHour} from 1 s to 1 h, ` +
        `${dataset.gapsOverOneHour} over 1 h); incremental: +${config.newShare * 100}% rows`,
      'ratios: against "ours: full pass, dry run" of the same layout; in the incremental part, against ' +
        'the --full dry run over the same grown table',
    ];
    for (const layout of config.layouts) {
      lines.push('', `### ${layout}: ${LAYOUTS[layout].title}`, '');
      lines.push(table(bench.measurements.filter((m) => m.layout === layout)));
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
        'checks: every real pass left no consecutive duplicate and lost no row (kept + archived/removed = ' +
          'before; nothing but true duplicates removed); every contender found the true duplicate count',
      );
    }
    lines.push(`total bench time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (config.jsonPath) {
      writeFileSync(
        config.jsonPath,
        JSON.stringify(
          {
            machine: info,
            server,
            config,
            dataset,
            measurements: bench.measurements,
            problems: bench.problems,
          },
          null,
          2,
        ),
      );
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
