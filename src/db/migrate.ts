import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/** The reconciler's own schema; every table of its state lives here. */
export const STATE_SCHEMA = 'status_reconciler';

// src/db and dist/db sit at the same depth, so this finds <package>/migrations from both.
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

// Arbitrary but fixed: serialises concurrent first runs (and `sql` scripts) that would both
// create the schema.
export const MIGRATION_LOCK = 0x5e_c0_1e_00;

/** The table that records applied migrations (created before the numbered ones). */
export const MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.migrations (
  id integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;

export function readMigration(file: string): string {
  return readFileSync(MIGRATIONS_DIR + file, 'utf8');
}

export function listMigrations(): { id: number; file: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{6}\.sql$/.test(f))
    .sort()
    .map((file) => ({ id: Number(file.slice(0, 6)), file }));
}

export async function stateSchemaExists(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [
    STATE_SCHEMA,
  ]);
  return rows.length > 0;
}

/** Whether every numbered migration is already applied (a read: no CREATE privilege needed). */
async function upToDate(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ready: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ready`, [
    `${STATE_SCHEMA}.migrations`,
  ]);
  if (!rows[0]?.ready) return false;
  const applied = await client.query<{ id: number }>(`SELECT id FROM ${STATE_SCHEMA}.migrations`);
  const ids = new Set(applied.rows.map((r) => r.id));
  return listMigrations().every((m) => ids.has(m.id));
}

/**
 * Applies the numbered migrations not yet applied; returns how many it applied. When all
 * are applied it only reads, so a least-privilege role (no CREATE on the database or the
 * schema, once an administrator has run the first migration) passes.
 */
export async function migrate(client: pg.Client): Promise<number> {
  if (await upToDate(client)) return 0;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`);
    await client.query(MIGRATIONS_TABLE_DDL);
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${STATE_SCHEMA}.migrations`);
    const applied = new Set(rows.map((r) => r.id));
    let count = 0;
    for (const { id, file } of listMigrations()) {
      if (applied.has(id)) continue;
      await client.query(readMigration(file));
      await client.query(`INSERT INTO ${STATE_SCHEMA}.migrations (id) VALUES ($1)`, [id]);
      count += 1;
    }
    await client.query('COMMIT');
    return count;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
