import type pg from 'pg';

export interface Timeouts {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

/**
 * Runs fn in its own short transaction with lock_timeout and statement_timeout set locally,
 * so no write of ours holds locks for long or waits behind an application's lock forever.
 */
export async function inShortTransaction<T>(
  client: pg.Client,
  timeouts: Timeouts,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(
      `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`,
      [`${timeouts.lockTimeoutMs}ms`, `${timeouts.statementTimeoutMs}ms`],
    );
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
