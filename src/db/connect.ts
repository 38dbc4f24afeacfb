import pg from 'pg';

/** A connection failure reported with where it tried to go, and never the password. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

const CONNECT_TIMEOUT_MS = 10_000;
/**
 * TCP keepalives on every connection: a connection idle behind a NAT or a firewall stays
 * known to it, and one whose peer is gone (a partition, a host that died) is found out by
 * the OS instead of waited on forever. The first probe after this much silence; how many
 * more and how often is the OS's (tcp_keepalive_intvl, tcp_keepalive_probes on Linux).
 * A server that answers TCP but not queries (a stopped backend) is the run deadline's
 * (runTimeout), not this.
 */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;
/** How long close() waits for the server to see the session out before it cuts the socket. */
const CLOSE_TIMEOUT_MS = 2000;

export interface Connection {
  client: pg.Client;
  /** Its application_name, which also tells the scan from the writer in messages. */
  name: string;
  /** The backend's pid, for messages (and for an operator looking in pg_stat_activity). */
  pid: number;
  /** server_version_num: 150020 for PostgreSQL 15.20. */
  serverVersion: number;
  /**
   * The first error the connection itself failed with (the server's FATAL, when it sent one
   * before closing, such as 57P05 for idle_session_timeout): the next use rethrows it, and a
   * failure message names it as the cause. Later errors of the same death ("Connection
   * terminated unexpectedly") do not replace it.
   */
  failure: Error | undefined;
  /** Cuts the socket at once, without waiting for the server: for a server that no longer answers. */
  destroy(reason: string): void;
  /** Ends the session; if the server does not see it out within a moment, cuts the socket. */
  close(): Promise<void>;
}

/** libpq-style "host:port" for messages; the config object itself may hold a password. */
export function describeTarget(config: pg.ClientConfig): string {
  const client = new pg.Client(config);
  const host = client.host || 'localhost';
  return `${host}:${client.port}`;
}

/** What prepareSession learnt about the session. */
export interface SessionFacts {
  pid: number;
  serverVersion: number;
}

/**
 * The one session setting we make, and why it is one: idle_session_timeout (PostgreSQL
 * 14+) only ever applies between transactions, so no transaction of ours can turn it off
 * for itself, and a role's or database's value would end the writer while it sits idle
 * during a long scan. `set_config(..., false)` for the session, only on a server that has
 * the setting (the CASE evaluates it only there). Everything else is set per transaction
 * (src/db/transaction.ts): behind PgBouncer's transaction pooling a session setting stays
 * on one pooled server connection, which then serves other clients; this one only keeps
 * that server connection from being ended while idle, which PgBouncer decides anyway
 * (server_idle_timeout), so it is harmless there.
 */
export async function prepareSession(client: pg.ClientBase): Promise<SessionFacts> {
  const { rows } = await client.query<{ pid: number; version: number }>(
    `SELECT pg_backend_pid() AS pid, current_setting('server_version_num')::int AS version,
            CASE WHEN current_setting('server_version_num')::int >= 140000
                 THEN set_config('idle_session_timeout', '0', false) END AS idle_session_timeout`,
  );
  return { pid: rows[0]?.pid ?? 0, serverVersion: rows[0]?.version ?? 0 };
}

/** The socket options of every connection we open (the serve command's pool too). */
export function socketOptions(config: pg.ClientConfig): pg.ClientConfig {
  return {
    // A host that drops packets must fail the run in seconds, not at the OS's TCP timeout.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    ...config,
  };
}

/**
 * Opens one dedicated client. We use clients rather than a pool: a run holds exactly two
 * (one streams, one writes, since a cursor blocks every other query on its client), and a
 * pooled client released with an undrained cursor hangs the pool (node-postgres #2148).
 */
export async function connect(config: pg.ClientConfig, applicationName: string): Promise<Connection> {
  const client = new pg.Client({ ...socketOptions(config), application_name: applicationName });
  let ended = false;
  const cut = (): void => {
    client.connection.stream.destroy();
  };
  const connection: Connection = {
    client,
    name: applicationName,
    pid: 0,
    serverVersion: 0,
    failure: undefined,
    destroy(reason: string) {
      connection.failure ??= new ConnectionError(`${applicationName}: ${reason}`);
      cut();
    },
    async close() {
      if (ended) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(resolve, CLOSE_TIMEOUT_MS, 'timeout');
      });
      const outcome = await Promise.race([client.end().catch(() => undefined), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') cut();
    },
  };
  // Without a listener, a backend terminated while the client is idle crashes the process.
  client.on('error', (error) => {
    connection.failure ??= error;
  });
  client.on('end', () => {
    ended = true;
  });
  try {
    await client.connect();
    const facts = await prepareSession(client);
    connection.pid = facts.pid;
    connection.serverVersion = facts.serverVersion;
  } catch (error) {
    await connection.close();
    const code = (error as { code?: string }).code;
    throw new ConnectionError(
      `cannot connect to PostgreSQL at ${describeTarget(config)} as user "${client.user ?? ''}" ` +
        `(database "${client.database ?? ''}"): ${(error as Error).message}${code ? ` [${code}]` : ''}`,
      { cause: error },
    );
  }
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
