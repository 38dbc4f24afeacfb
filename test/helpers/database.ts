import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  name: string;
  url: string;
  config: pg.ClientConfig;
  pool: pg.Pool;
  query<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<R[]>;
  /** A fresh client of its own (for writers that hold transactions open); caller ends it. */
  connect(): Promise<pg.Client>;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * A database of its own for one test file, on the server the run uses (embedded, or
 * TEST_DATABASE_URL). drop() ends the pool and drops the database, so nothing leaks.
 */
export async function createTestDatabase(
  prefix: string,
  adminUrl: string = inject('adminUrl'),
): Promise<TestDatabase> {
  const name = `sr_${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const config: pg.ClientConfig = { connectionString: url };
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined); // terminated idle clients in fault tests
  return {
    name,
    url,
    config,
    pool,
    async query(text, values) {
      const result = await pool.query(text, values);
      return result.rows;
    },
    async connect() {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async drop() {
      // Nothing may leak: every connection the reconciler opened in this file is closed
      // (a killed CLI's backends take a moment to notice their socket closed).
      let leaked: { application_name: string; state: string }[] = [];
      for (let i = 0; i < 40; i++) {
        leaked = (
          await pool.query<{ application_name: string; state: string }>(
            `SELECT application_name, state FROM pg_stat_activity
              WHERE datname = current_database() AND application_name LIKE 'status-reconciler%'`,
          )
        ).rows;
        if (leaked.length === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await pool.end();
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
      if (leaked.length > 0) {
        throw new Error(`connections left open by the reconciler: ${JSON.stringify(leaked)}`);
      }
    },
  };
}
