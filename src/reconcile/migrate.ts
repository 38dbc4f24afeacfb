import type pg from 'pg';
import {
  appliedMigrationsStatement,
  listMigrations,
  migrationsTableExistsStatement,
  prepareMigrationStatements,
  readMigration,
  recordMigrationStatement,
} from '../sql/stateSchema.js';

/** The ids of the migrations already applied; empty when the migrations table is missing. */
async function appliedMigrations(client: pg.ClientBase): Promise<Set<number>> {
  const { rows } = await client.query<{ ready: boolean }>(migrationsTableExistsStatement());
  if (!rows[0]?.ready) return new Set();
  const applied = await client.query<{ id: number }>(appliedMigrationsStatement());
  return new Set(applied.rows.map((r) => r.id));
}

/**
 * Applies the numbered migrations not yet applied; returns how many it applied. When all
 * are applied it only reads, so a least-privilege role (no CREATE on the database or the
 * schema, once an administrator has run the first migration) passes.
 */
export async function migrate(client: pg.ClientBase): Promise<number> {
  try {
    return await migrateOnce(client);
  } catch (error) {
    // Concurrent first runs: the advisory lock serialises them, but a transaction that
    // waited for it may still look at the catalog from before the other one committed, and
    // fail creating what now exists (seen behind PgBouncer: 5 of 30 triples of runners).
    // Once the other has committed, the next attempt finds everything there.
    if (!isCreationRace(error)) throw error;
    return migrateOnce(client);
  }
}

/** unique_violation (a catalog row), duplicate_schema, duplicate_table, duplicate_object. */
export const RACED = new Set(['23505', '42P06', '42P07', '42710']);

/** Whether an error is another session creating the same object at the same time. */
export function isCreationRace(error: unknown): boolean {
  return RACED.has((error as { code?: string }).code ?? '');
}

async function migrateOnce(client: pg.ClientBase): Promise<number> {
  const before = await appliedMigrations(client);
  if (listMigrations().every((m) => before.has(m.id))) return 0;
  await client.query('BEGIN');
  try {
    for (const statement of prepareMigrationStatements()) await client.query(statement);
    // Read again under the lock: a concurrent migrator may have applied some meanwhile.
    const applied = await appliedMigrations(client);
    let count = 0;
    for (const { id, file } of listMigrations()) {
      if (applied.has(id)) continue;
      await client.query(readMigration(file));
      await client.query(recordMigrationStatement(id));
      count += 1;
    }
    await client.query('COMMIT');
    return count;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
