import type pg from 'pg';

export interface Timeouts {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** The job's TimeZone, which gives local times and dates their meaning; else the server's. */
  timeZone?: string | undefined;
}

/*
 * Settings every transaction of ours sets for itself (set_config(..., true): until it
 * ends). Not once per session: behind PgBouncer's transaction pooling the next transaction
 * may run on another server connection, and a session SET would stay behind on this one for
 * other clients. Fixed formats, so timestamps read as text cast back exactly whatever the
 * role's or database's defaults, and floats come back whole.
 */
const FORMATS: [string, string][] = [
  ['DateStyle', 'ISO'],
  ['IntervalStyle', 'postgres'],
  ['extra_float_digits', '3'],
];

/**
 * The statement that applies `settings` to the current transaction only. transaction_timeout
 * exists from PostgreSQL 17 on (set_config of an unknown name fails): it is left out before.
 */
export function localSettingsStatement(settings: [string, string][]): { text: string; values: unknown[] } {
  return {
    text: `SELECT count(set_config(s.name, s.value, true)) FROM unnest($1::text[], $2::text[]) AS s(name, value)
            WHERE s.name <> 'transaction_timeout' OR current_setting('server_version_num')::int >= 170000`,
    values: [settings.map(([name]) => name), settings.map(([, value]) => value)],
  };
}

/** Our formats, plus the job's TimeZone when it has one. */
export function transactionSettings(timeZone: string | undefined): [string, string][] {
  return timeZone === undefined ? FORMATS : [...FORMATS, ['TimeZone', timeZone]];
}

/**
 * Runs fn in its own short transaction with lock_timeout and statement_timeout set locally,
 * so no write of ours holds locks for long or waits behind an application's lock forever,
 * and our formats and the job's TimeZone set for it alone. READ COMMITTED whatever the
 * role's or database's default_transaction_isolation: each statement of a batch must see
 * what committed before it (the rows referencing a duplicate, after the batch locked it),
 * and re-verify against the latest version of a row it waited for.
 */
export async function inShortTransaction<T>(
  client: pg.ClientBase,
  timeouts: Timeouts,
  fn: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  return inTransaction(client, 'BEGIN ISOLATION LEVEL READ COMMITTED', batchSettings(timeouts), fn);
}

/** What inShortTransaction sets for its transaction. */
export function batchSettings(timeouts: Timeouts): [string, string][] {
  return [
    ...transactionSettings(timeouts.timeZone),
    ['lock_timeout', `${timeouts.lockTimeoutMs}ms`],
    ['statement_timeout', `${timeouts.statementTimeoutMs}ms`],
    // A role's or database's transaction_timeout (PostgreSQL 17+) ends the whole session
    // when it hits, not just the transaction: statement_timeout and lock_timeout bound ours.
    ['transaction_timeout', '0'],
  ];
}

/**
 * A read-only transaction with our formats: what the reporting commands read in. With a
 * job's TimeZone, values typed on the command line (`--key`, `--since`) are read, and times
 * shown, in the zone the job's own transactions use.
 */
export async function inReadTransaction<T>(
  client: pg.ClientBase,
  fn: (client: pg.ClientBase) => Promise<T>,
  timeZone?: string,
): Promise<T> {
  return inTransaction(client, 'BEGIN READ ONLY', transactionSettings(timeZone), fn);
}

async function inTransaction<T>(
  client: pg.ClientBase,
  begin: string,
  settings: [string, string][],
  fn: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  await client.query(begin);
  try {
    await client.query(localSettingsStatement(settings));
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
