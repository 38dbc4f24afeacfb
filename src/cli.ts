#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from './config/errors.js';
import { readEnvironment } from './config/environment.js';
import { loadJobs } from './config/loadJobs.js';
import { ConnectionError } from './db/connect.js';
import { createLogger } from './log.js';
import { runJobs } from './reconcile/runJobs.js';
import { installSignalHandlers } from './signals.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const HELP = `status-reconciler: collapse consecutive duplicate statuses in PostgreSQL history tables

Usage:
  status-reconciler run --jobs PATH [--job NAME]... [--dry-run] [--full]
  status-reconciler help

Commands:
  run        one pass over the jobs, then exit
  help       this text

Options:
  --jobs PATH   a job file (one job object or an array) or a directory of *.json job files
  --job NAME    only this job (repeatable)
  --dry-run     change nothing; report what would be removed
  --full        ignore the checkpoint and re-check every object

Environment:
  DATABASE_URL     postgres://USER:PASSWORD@HOST:PORT/DATABASE (else libpq's PG* variables)
  PUSHGATEWAY_URL  Prometheus Pushgateway to push to after each run
  LOG_LEVEL        fatal, error, warn, info (default), debug, trace, silent
  METRICS_PORT     port of /metrics and /healthz for serve (default 9464)

Exit codes:
  0  done (also when another runner holds a job's lock: that job is skipped)
  1  the run failed
  2  bad usage or bad configuration (nothing was changed)

Example:
  DATABASE_URL=postgres://reconciler@db:5432/app status-reconciler run --jobs jobs/ --dry-run
`;

function fail(message: string, code: number): number {
  process.stderr.write(`status-reconciler: ${message}\n`);
  return code;
}

const RUN_USAGE = 'run --jobs PATH [--job NAME]... [--dry-run] [--full]';

function parseRunArgs(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        jobs: { type: 'string' },
        job: { type: 'string', multiple: true },
        'dry-run': { type: 'boolean', default: false },
        full: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    // node:util's messages name the offending argument but not what was expected.
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const what = (error as Error).message.replace(/\.\s.*$/s, '');
      throw new ConfigError(`run: ${what}; expected ${RUN_USAGE} (see --help)`);
    }
    throw error;
  }
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseRunArgs(argv);
  if (values.jobs === undefined) {
    throw new ConfigError(
      `run: --jobs PATH is required; expected ${RUN_USAGE}, PATH a job file or a directory of *.json job files`,
    );
  }
  const env = readEnvironment();
  const jobs = loadJobs(values.jobs, values.job ?? []);
  const logger = createLogger(env.logLevel);
  const signals = installSignalHandlers((signal) =>
    logger.warn({ signal }, 'stopping after the batch in hand (send again to exit at once)'),
  );
  try {
    const results = await runJobs(env.database, jobs, {
      dryRun: values['dry-run'] ?? false,
      full: values.full ?? false,
      logger,
      signal: signals.signal,
    });
    const failed = results.filter((r) => r.outcome === 'failure');
    for (const r of failed) {
      process.stderr.write(`status-reconciler: job "${r.job}" failed: ${r.error?.message ?? 'unknown error'}\n`);
    }
    return failed.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    signals.remove();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await run(rest);
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return EXIT.ok;
      case undefined:
        process.stderr.write(HELP);
        return EXIT.usage;
      default:
        return fail(`unknown command "${command}"; expected run or help (see --help)`, EXIT.usage);
    }
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message, EXIT.usage);
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      return fail(`${(error as Error).message} (see --help)`, EXIT.usage);
    }
    if (error instanceof ConnectionError) return fail(error.message, EXIT.failed);
    return fail(`unexpected error: ${(error as Error).stack ?? String(error)}`, EXIT.failed);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`status-reconciler: ${String(error)}\n`);
    process.exitCode = EXIT.failed;
  },
);
