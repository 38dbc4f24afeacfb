import pg from 'pg';

/** A connection failure reported with where it tried to go, and never the password. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

const CONNECT_TIMEOUT_MS = 10_000;

export interface Connection {
  client: pg.Client;
  /** Set when the connection failed while idle: the next use rethrows it. */
  failure: Error | undefined;
  close(): Promise<void>;
}

/** libpq-style "host:port" for messages; the config object itself may hold a password. */
export function describeTarget(config: pg.ClientConfig): string {
  const client = new pg.Client(config);
  const host = client.host || 'localhost';
  return `${host}:${client.port}`;
}

/**
 * Opens one dedicated client. We use clients rather than a pool: a run holds exactly two
 * (one streams, one writes, since a cursor blocks every other query on its client), and a
 * pooled client released with an undrained cursor hangs the pool (node-postgres #2148).
 */
export async function connect(config: pg.ClientConfig, applicationName: string): Promise<Connection> {
  // A host that drops packets must fail the run in seconds, not at the OS's TCP timeout.
  const client = new pg.Client({
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ...config,
    application_name: applicationName,
  });
  const connection: Connection = {
    client,
    failure: undefined,
    async close() {
      await client.end().catch(() => undefined);
    },
  };
  // Without a listener, a backend terminated while the client is idle crashes the process.
  client.on('error', (error) => {
    connection.failure = error;
  });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    const code = (error as { code?: string }).code;
    throw new ConnectionError(
      `cannot connect to PostgreSQL at ${describeTarget(config)} as user "${client.user ?? ''}" ` +
        `(database "${client.database ?? ''}"): ${(error as Error).message}${code ? ` [${code}]` : ''}`,
      { cause: error },
    );
  }
  // No session state is set here: behind PgBouncer's transaction pooling it would stay on
  // one pooled server connection, which then serves other clients. Each transaction sets
  // what it needs for itself (src/db/transaction.ts).
  return connection;
}

/**
 * Runs fn on a client of its own and closes it whatever happens: the one place that opens
 * and closes a short-lived connection (graphile-worker's withPgClient), so none can leak.
 */
export async function withClient<T>(
  config: pg.ClientConfig,
  applicationName: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const connection = await connect(config, applicationName);
  try {
    return await fn(connection.client);
  } finally {
    await connection.close();
  }
}
