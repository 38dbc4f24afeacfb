import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { TestDatabase } from './database.js';

export interface LoginRole {
  /** The role's name, as the catalog spells it. */
  name: string;
  /** The database's URL, logged in as the role. */
  url: string;
  /** Drops the role (after the databases it has objects or grants in are dropped). */
  drop(): Promise<void>;
}

/** A role of its own with a password and nothing else, for a CLI to connect as. */
export async function createLoginRole(db: TestDatabase, prefix: string): Promise<LoginRole> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.query(`CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN PASSWORD '${password}'`);
  const url = new URL(db.url);
  url.username = name;
  url.password = password;
  return {
    name,
    url: url.toString(),
    async drop() {
      const admin = new pg.Client({ connectionString: inject('adminUrl') });
      await admin.connect();
      try {
        await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`);
      } finally {
        await admin.end();
      }
    },
  };
}
