import pg from 'pg';
import { formatName, tieBreakerColumn, type Job, type QualifiedName } from '../config/job.js';
import {
  listMigrations,
  MIGRATION_LOCK,
  MIGRATIONS_TABLE_DDL,
  readMigration,
  STATE_SCHEMA,
} from '../sql/stateSchema.js';
import { ident, qualified } from '../db/quote.js';
import { createArchiveTableText } from '../sql/archiveTable.js';
import { dollarQuote } from './names.js';
import {
  ARCHIVE_TABLE_PRIVILEGES,
  grantLine,
  historyTablePrivileges,
  RESTORE_ARCHIVE_TABLE_PRIVILEGES,
  RESTORE_HISTORY_TABLE_PRIVILEGES,
  STATE_TABLE_PRIVILEGES,
} from './privileges.js';
import { viewStatements } from './views.js';

export const DEFAULT_ROLE = 'status_reconciler';

const literal = (text: string): string => pg.escapeLiteral(text);

/**
 * The reconciler's own schema exactly as its migrator builds it (src/reconcile/migrate.ts): the
 * schema, the migrations table, then each numbered migration not yet recorded there. Each
 * is guarded by its row in status_reconciler.migrations, so the script can be applied
 * again after an upgrade and applies only the new ones; the reconciler's migrator then
 * finds nothing to do, and needs no CREATE privilege.
 */
export function stateSchemaDdl(): string {
  const schema = ident(STATE_SCHEMA);
  const parts = [
    `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK});`,
    `CREATE SCHEMA IF NOT EXISTS ${schema};`,
    `${MIGRATIONS_TABLE_DDL};`,
  ];
  for (const { id, file } of listMigrations()) {
    const text = readMigration(file).trimEnd();
    const body = `
BEGIN
  IF NOT EXISTS (SELECT FROM ${schema}.migrations WHERE id = ${id}) THEN
    EXECUTE ${dollarQuote(`\n${text}\n`, 'migration')};
    INSERT INTO ${schema}.migrations (id) VALUES (${id});
  END IF;
END
`;
    parts.push(`-- migrations/${file}\nDO ${dollarQuote(body, 'do')};`);
  }
  return parts.join('\n\n');
}

/**
 * The archive table as the first run would create it (src/sql/archiveTable.ts, reused so
 * the two cannot drift). Its repeated_id has the type of the job's last orderBy column,
 * which the job file does not say: rather than connect to look it up (or print a
 * placeholder the DBA must edit), the statement is run from a DO block that reads the type
 * from the catalog when the script is applied, so the script stays runnable as printed.
 */
export function archiveTableDdl(job: Job): string {
  const last = tieBreakerColumn(job);
  const { beforeType: before, afterType: after } = createArchiveTableText(
    job.table,
    job.archiveTable as QualifiedName,
  );
  const body = `
DECLARE
  repeated_type text;
BEGIN
  SELECT format_type(a.atttypid, a.atttypmod) INTO repeated_type
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = ${literal(qualified(job.table))}::regclass
     AND a.attname = ${literal(last)} AND a.attnum > 0 AND NOT a.attisdropped;
  IF repeated_type IS NULL THEN
    RAISE EXCEPTION ${literal(`${formatName(job.table)} has no column "${last}" (the last orderBy column of job "${job.name}")`)};
  END IF;
  EXECUTE ${literal(before)}
    || repeated_type || ${literal(after)};
END
`;
  return `-- Job "${job.name}": the archive table, as its first run would create it:
--   ${before.split('\n').join('\n--   ')}<type of ${formatName(job.table)}.${last}>${after.split('\n').join('\n--   ')}
DO ${dollarQuote(body, 'do')};`;
}

/**
 * The role and exactly the grants a run needs once the DDL above exists: it creates
 * nothing, so no CREATE anywhere. CREATE ROLE only when the role is missing (the script is
 * idempotent); no password is printed, set one yourself.
 */
export function roleDdl(jobs: Job[], role: string): string {
  const schemas = new Set<string>();
  const tables = new Map<string, { name: QualifiedName; privileges: string[] }>();
  const need = (name: QualifiedName, privileges: string[]): void => {
    schemas.add(name.schema);
    const entry = tables.get(qualified(name)) ?? { name, privileges: [] };
    for (const p of privileges) if (!entry.privileges.includes(p)) entry.privileges.push(p);
    tables.set(qualified(name), entry);
  };
  for (const job of jobs) {
    need(job.table, historyTablePrivileges(job));
    if (job.mode === 'archive' && job.archiveTable) need(job.archiveTable, ARCHIVE_TABLE_PRIVILEGES);
  }
  const archiving = jobs.filter((j) => j.mode === 'archive' && j.archiveTable);
  const restoreGrants = archiving.flatMap((j) => [
    grantLine(RESTORE_HISTORY_TABLE_PRIVILEGES, `TABLE ${qualified(j.table)}`, role),
    grantLine(RESTORE_ARCHIVE_TABLE_PRIVILEGES, `TABLE ${qualified(j.archiveTable as QualifiedName)}`, role),
  ]);
  const state = ident(STATE_SCHEMA);
  const create = `
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${literal(role)}) THEN
    CREATE ROLE ${ident(role)} LOGIN;
  END IF;
  -- Only when PUBLIC's CONNECT was revoked does this matter; the database is the current one.
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), ${literal(role)});
END
`;
  return [
    `DO ${dollarQuote(create, 'do')};`,
    `-- Lets the horizon see every session's xact_start in pg_stat_activity (else it relies on settleSeconds alone).
GRANT pg_read_all_stats TO ${ident(role)};`,
    `-- The history tables: read (scan, re-verification), delete (the duplicates), and lock each
-- removed row's predecessor FOR SHARE while re-verifying, which PostgreSQL allows only to a
-- role that may UPDATE a column: the tie-breaker's (the reconciler never updates a row).
-- The archive tables: insert (and read).
${[...schemas].map((s) => grantLine(['USAGE'], `SCHEMA ${ident(s)}`, role)).join('\n')}
${[...tables.values()].map((t) => grantLine(t.privileges, `TABLE ${qualified(t.name)}`, role)).join('\n')}`,
    ...(restoreGrants.length > 0
      ? [
          `-- \`status-reconciler restore\` (archive mode): it moves archived rows back, deleting them from the
-- archive and inserting them into the history table. (\`history\` only reads both: granted above.)
-- A run needs neither: revoke them from a role that only runs, and restore as another one.
${restoreGrants.join('\n')}`,
        ]
      : []),
    `-- Its own state: checkpoints, totals, gap histogram, run history (and run_history's id sequence).
-- The migrations table is the administrator's record of this script: the reconciler only reads it.
${grantLine(['USAGE'], `SCHEMA ${state}`, role)}
${grantLine(STATE_TABLE_PRIVILEGES, `ALL TABLES IN SCHEMA ${state}`, role)}
REVOKE INSERT, UPDATE, DELETE ON TABLE ${state}.migrations FROM ${ident(role)};
${grantLine(['USAGE'], `ALL SEQUENCES IN SCHEMA ${state}`, role)}`,
  ].join('\n\n');
}

/** The whole script of `status-reconciler sql`, one transaction, printed from the job files alone. */
export function sqlScript(jobs: Job[], role: string, source: string): string {
  const archives = jobs.filter((j) => j.mode === 'archive' && j.archiveTable);
  const sections = [
    `-- status-reconciler sql: the database side of job(s) ${jobs.map((j) => `"${j.name}"`).join(', ')}
-- (from ${source}) for role "${role}". Printed from the job files alone: no database was read.
--
-- Apply it as an administrator (a superuser, or the tables' owner with CREATEROLE and CREATE
-- on the database), in one transaction as written, for example:
--   psql "postgres://ADMIN@HOST/DATABASE" -v ON_ERROR_STOP=1 -f status-reconciler.sql
-- then give the role a password (\\password ${role}) and run \`status-reconciler check\` as it.
-- It is idempotent: apply it again after upgrading status-reconciler (new migrations of its
-- schema) or changing the job files. Indexes are not here: \`check\` prints those it lacks,
-- to be created CONCURRENTLY, outside a transaction.
--
-- Schema changes by the application (migrations): a run adds to an archive table the
-- columns its history table gains, when the role owns the archive (else \`run\` and \`check\`
-- print the ALTER TABLE). The reader views at the end keep the columns the table had when
-- they were created, and block ALTER COLUMN ... TYPE on a column they read: around such a
-- migration drop them and create them again, with
--   status-reconciler sql --jobs ${source} --views drop     (before it)
--   status-reconciler sql --jobs ${source} --views create   (after it, in the same session)
-- or, after a migration that added or renamed columns, --views recreate.

BEGIN;`,
    `-- 1. The reconciler's own schema, ${STATE_SCHEMA}, as its migrator would create it.

${stateSchemaDdl()}`,
  ];
  if (archives.length > 0) {
    sections.push(`-- 2. Archive tables.\n\n${archives.map(archiveTableDdl).join('\n\n')}`);
  }
  sections.push(
    `-- ${archives.length > 0 ? 3 : 2}. The role "${role}", with the least privileges a run needs.\n\n${roleDdl(jobs, role)}`,
  );
  sections.push(
    `-- ${archives.length > 0 ? 4 : 3}. Views for readers, right today, whether the reconciler has run or not.
-- (SELECT t.* is expanded when a view is created: after a migration of the table, create them
-- again with \`status-reconciler sql --views recreate\`, which keeps their grants.)
-- Grant your readers SELECT on them.

${jobs.flatMap(viewStatements).join('\n\n')}`,
  );
  sections.push('COMMIT;');
  return `${sections.join('\n\n')}\n`;
}
