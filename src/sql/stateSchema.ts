import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { schemaExistsStatement } from './catalog.js';
import type { Statement } from './types.js';

/** The reconciler's own schema; every table of its state lives here. */
export const STATE_SCHEMA = 'status_reconciler';

// src/sql and dist/sql sit at the same depth, so this finds <package>/migrations from both.
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

// Arbitrary but fixed: serialises concurrent first runs (and `sql` scripts) that would both
// create the schema.
export const MIGRATION_LOCK = 0x5e_c0_1e_00;

/** The table that records applied migrations (created before the numbered ones). */
export const MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.migrations (
  id integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;

/** The text of one numbered migration file (migrations/000001.sql...). */
export function readMigration(file: string): string {
  return readFileSync(MIGRATIONS_DIR + file, 'utf8');
}

export function listMigrations(): { id: number; file: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{6}\.sql$/.test(f))
    .sort()
    .map((file) => ({ id: Number(file.slice(0, 6)), file }));
}

/** One row when the schema exists (a catalog read: no privilege on the schema needed). */
export function stateSchemaExistsStatement(): Statement {
  return schemaExistsStatement(STATE_SCHEMA);
}

/** `ready`: the migrations table exists (to_regclass: no error, and no privilege needed). */
export function migrationsTableExistsStatement(): Statement {
  return {
    text: `SELECT to_regclass($1) IS NOT NULL AS ready`,
    values: [`${STATE_SCHEMA}.migrations`],
  };
}

/** The ids of the applied migrations. */
export function appliedMigrationsStatement(): Statement {
  return { text: `SELECT id FROM ${STATE_SCHEMA}.migrations`, values: [] };
}

/**
 * What a migrating transaction runs before the numbered migrations: the lock that
 * serialises concurrent migrators, the schema and the migrations table.
 */
export function prepareMigrationStatements(): Statement[] {
  return [
    { text: 'SELECT pg_advisory_xact_lock($1)', values: [MIGRATION_LOCK] },
    { text: `CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`, values: [] },
    { text: MIGRATIONS_TABLE_DDL, values: [] },
  ];
}

/** Records one numbered migration as applied, in the transaction that applied it. */
export function recordMigrationStatement(id: number): Statement {
  return { text: `INSERT INTO ${STATE_SCHEMA}.migrations (id) VALUES ($1)`, values: [id] };
}
