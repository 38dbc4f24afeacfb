import type pg from 'pg';
import { ConfigError } from '../config/errors.js';
import { ConnectionError, describeTarget, withClient } from './connect.js';

/**
 * How long one query of a read-only command (`check`, `status`) may wait for its answer.
 * Their queries read the catalog and a few rows: none should take seconds. Without a
 * deadline a network that stops forwarding (a proxy, a NAT that lost the flow) leaves them
 * waiting forever, with no message: TCP keepalives only find a peer that is gone, not one
 * that still acknowledges and never answers.
 */
export const QUERY_DEADLINE_MS = 30_000;

/** Overrides QUERY_DEADLINE_MS, in milliseconds (for a slow catalog, and for the tests). */
export const QUERY_DEADLINE_ENV = 'STATUS_RECONCILER_QUERY_TIMEOUT_MS';

/** node-postgres's own message when its query_timeout fires. */
const PG_QUERY_TIMEOUT = 'Query read timeout';

export function queryDeadlineMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[QUERY_DEADLINE_ENV];
  if (raw === undefined || raw === '') return QUERY_DEADLINE_MS;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new ConfigError(
      `invalid ${QUERY_DEADLINE_ENV}: got "${raw}"; expected a whole number of milliseconds, at least 1`,
    );
  }
  return Number(raw);
}

type Query = (...args: unknown[]) => unknown;

function isThenable(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function firstLine(args: unknown[]): string {
  const [first] = args;
  const text = typeof first === 'string' ? first : (first as { text?: unknown } | null)?.text;
  if (typeof text !== 'string') return '';
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

/**
 * Runs fn on a client of its own (withClient) whose every query must be answered within
 * `ms`: past that the socket is cut at once (so nothing after it, not even a ROLLBACK, waits
 * on it again) and the command fails with a ConnectionError (exit 1) naming the stall, the
 * host and the statement. The connection's own first query (prepareSession) is covered by
 * node-postgres's query_timeout, with the same deadline.
 */
export async function withQueryDeadline<T>(
  config: pg.ClientConfig,
  applicationName: string,
  command: string,
  fn: (client: pg.Client) => Promise<T>,
  ms: number = queryDeadlineMs(),
): Promise<T> {
  let stalled: string | undefined;
  const stallError = (statement: string): ConnectionError =>
    new ConnectionError(
      `${command}: no answer from PostgreSQL at ${describeTarget(config)} within ${ms} ms: ` +
        'a stalled network, proxy or server; ' +
        `${statement ? `it waited for the answer to: ${statement}` : 'it waited for the session to start'}. ` +
        `Each query of ${command} has this deadline (${QUERY_DEADLINE_ENV}, default ${QUERY_DEADLINE_MS} ms)`,
    );
  try {
    return await withClient({ ...config, query_timeout: ms }, applicationName, async (client) => {
      const cut = (statement: string): void => {
        stalled ??= statement;
        client.connection.stream.destroy();
      };
      const query = client.query.bind(client) as Query;
      (client as unknown as { query: Query }).query = (...args: unknown[]): unknown => {
        const result = query(...args);
        if (!isThenable(result)) return result;
        const statement = firstLine(args);
        const timer = setTimeout(() => cut(statement), ms);
        return result.then(
          (value) => {
            clearTimeout(timer);
            return value;
          },
          (error: unknown) => {
            clearTimeout(timer);
            if ((error as Error | undefined)?.message === PG_QUERY_TIMEOUT) cut(statement);
            throw error;
          },
        );
      };
      return fn(client);
    });
  } catch (error) {
    if (stalled !== undefined) throw stallError(stalled);
    // The connection's first query, before fn: connect() wraps node-postgres's timeout.
    const cause = (error as { cause?: { message?: string } }).cause;
    if (error instanceof ConnectionError && cause?.message === PG_QUERY_TIMEOUT) throw stallError('');
    throw error;
  }
}
