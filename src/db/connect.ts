import pg from 'pg';

/** A connection failure reported with where it tried to go, and never the password. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

const CONNECT_TIMEOUT_MS = 10_000;

export interface Connection {
  client: pg.Client;
  /** The backend's pid, excluded when the horizon looks at other transactions. */
  pid: number;
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
    pid: 0,
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
  // Fixed formats so timestamps we read as text can be cast back exactly, whatever the
  // role's defaults; the job's TimeZone (if any) is set per job on top of this.
  await client.query(`SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3`);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  connection.pid = rows[0]?.pid ?? 0;
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
