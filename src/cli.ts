#!/usr/bin/env node
import { checkCommand } from './commands/check.js';
import { historyCommand } from './commands/history.js';
import { restoreCommand } from './commands/restore.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { sqlCommand } from './commands/sql.js';
import { statusCommand } from './commands/status.js';
import { ConfigError } from './config/errors.js';
import { PRODUCT } from './config/product.js';
import { ConnectionError } from './db/connect.js';

/** argv -> command -> exit code; nothing else lives here. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const HELP = `status-reconciler: collapse consecutive duplicate statuses in PostgreSQL history tables

Usage:
  status-reconciler run --jobs PATH [--job NAME]... [--dry-run] [--full] [--no-progress] [SHARD]
  status-reconciler serve --jobs PATH [--job NAME]... [SHARD]
  status-reconciler status --jobs PATH [--job NAME]... [--runs N] [SHARD]
  status-reconciler check --jobs PATH [--job NAME]...
  status-reconciler sql --jobs PATH [--job NAME]... [--role NAME | --views MODE]
  status-reconciler history --jobs PATH --job NAME --key VALUE [--key VALUE]... [--json]
  status-reconciler restore --jobs PATH --job NAME [--key VALUE]... [--since TIME] [--until TIME]
                            [--dry-run]
  status-reconciler help

Commands:
  run        one pass over the jobs, then exit (pushes metrics when PUSHGATEWAY_URL is set)
  serve      run each job on its schedule; serve /metrics and /healthz on METRICS_PORT
  status     each job's last runs, collision ratio over the last day and week, duplicate gaps
  check      is each job ready? table, indexes, tie-breaker, the role's privileges, each with
             its fix; changes nothing; exit 0 ready, 2 not ready
  sql        print the SQL an administrator applies: the reconciler's schema, archive tables,
             a least-privilege role and its grants, views for readers (reads no database);
             with --views, only the reader views, to drop and re-create around a migration
  history    one object's rows, kept and archived, in order (archived ones with when, and
             the id of the row they repeated); reads only
  restore    move archived rows back into the table, exactly (ids and every column), all of
             the job's or one object's, archived in [--since, --until); under the job's lease
             (exit 1 while a run holds it); a delete-mode job: exit 2
  help       this text

Options:
  --jobs PATH   a job file (one job object or an array) or a directory of *.json job files
  --job NAME    only this job (repeatable; history and restore take exactly one)
  --dry-run     change nothing; report what would be removed (restore: how many rows would move)
  --full        ignore the checkpoint and re-check every object
  --no-progress run: no progress bar (else drawn on stderr when it is a terminal; colours
                unless NO_COLOR is set)
  --runs N      status: how many recent runs to list per job (default 5)
  SHARD         --shard-index I --shard-count N: only the objects whose key hashes to shard I
                of N (0 <= I < N), with a lease, checkpoint, run history and metrics of its
                own; also SHARD_INDEX / SHARD_COUNT (SHARD_INDEX defaults to
                JOB_COMPLETION_INDEX: a Kubernetes Indexed Job needs no wrapper)
  --role NAME   sql: the role to create and grant to (default status_reconciler)
  --views MODE  sql: only the reader views: recreate (drop and create, one transaction; after
                a migration that adds or renames columns), or drop (before a migration that
                alters a column's type) and create (after it, in the same session)
  --key VALUE   history, restore: one object, a --key per column of the job's "key", in its
                order, each read as that column's type ("7", "2026-12-01")
  --json        history: a JSON array, one object per row: its columns by name, "archived"
                (true or false), and for archived rows "archived_at" and "repeated_id"
  --since TIME  restore: only rows archived at or after TIME (a timestamptz: "2026-12-01 08:00+00")
  --until TIME  restore: only rows archived before TIME

Environment:
  DATABASE_URL      postgres://USER:PASSWORD@HOST:PORT/DATABASE (else libpq's PG* variables)
  PUSHGATEWAY_URL   Prometheus Pushgateway to push to after each run
  LOG_LEVEL         fatal, error, warn, info (default), debug, trace, silent
  METRICS_PORT      port of /metrics and /healthz for serve (default 9464)
  RUN_HISTORY_DAYS  days of run history to keep (default 30)
  SHARD_INDEX, SHARD_COUNT, JOB_COMPLETION_INDEX
                    the shard this process takes (see SHARD)
  STATUS_RECONCILER_QUERY_TIMEOUT_MS
                    check, status, history: how long each query may wait for an answer before the
                    command fails (exit 1) as stalled (default 30000)

Exit codes:
  0  done (also when another runner holds a job's lock: that job is skipped)
  1  the run failed (restore: also when a run holds the job; nothing was restored)
  2  bad usage or bad configuration (nothing was changed)

Example:
  DATABASE_URL=postgres://reconciler@db:5432/app status-reconciler run --jobs jobs/ --dry-run
`;

function fail(message: string, code: number): number {
  process.stderr.write(`${PRODUCT}: ${message}\n`);
  return code;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest);
      case 'serve':
        return await serveCommand(rest);
      case 'status':
        return await statusCommand(rest);
      case 'check':
        return await checkCommand(rest);
      case 'sql':
        return await sqlCommand(rest);
      case 'history':
        return await historyCommand(rest);
      case 'restore':
        return await restoreCommand(rest);
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return EXIT.ok;
      case undefined:
        process.stderr.write(HELP);
        return EXIT.usage;
      default:
        return fail(
          `unknown command "${command}"; expected run, serve, status, check, sql, history, restore or help (see --help)`,
          EXIT.usage,
        );
    }
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message, EXIT.usage);
    if (error instanceof ConnectionError) return fail(error.message, EXIT.failed);
    return fail(`unexpected error: ${(error as Error).stack ?? String(error)}`, EXIT.failed);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${PRODUCT}: ${String(error)}\n`);
    process.exitCode = EXIT.failed;
  },
);
