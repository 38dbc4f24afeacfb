/*
 * The demo's tables: the history the writers race on, the archive the reconciler moves
 * duplicates into, and a copy of the history taken before the pass.
 */
import pg from 'pg';

export const TABLE = 'public.object_status';
export const ARCHIVE = 'public.object_status_archive';
/** A copy of the history as the writers left it, so the checks do not trust the reconciler. */
export const BEFORE = 'public.object_status_before';

/** A client, not yet connected, whose connection errors are surfaced by the next query instead. */
export function newClient(url: string, applicationName: string): pg.Client {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined);
  return client;
}

export async function serverVersion(db: pg.Client): Promise<string> {
  const { rows } = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  return rows[0]?.v ?? '?';
}

export async function createSchema(db: pg.Client): Promise<void> {
  await db.query(`
    CREATE TABLE ${TABLE} (
      id bigserial PRIMARY KEY,
      object_id int NOT NULL,
      status_id int,
      start_date timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX object_status_object_id_start_date_id_idx ON ${TABLE} (object_id, start_date, id)`);
}

/** Copies the history as the writers left it into BEFORE. */
export async function snapshotHistory(db: pg.Client): Promise<void> {
  await db.query(`CREATE TABLE ${BEFORE} AS TABLE ${TABLE}`);
}

/** The single count(*) that `sql` returns. */
export async function count(db: pg.Client, sql: string): Promise<number> {
  const { rows } = await db.query<{ count: string }>(sql);
  return Number(rows[0]?.count ?? Number.NaN);
}

export function countRows(db: pg.Client, table: string): Promise<number> {
  return count(db, `SELECT count(*) FROM ${table}`);
}
