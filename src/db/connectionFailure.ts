import { SQLSTATE } from './sqlstate.js';

/** Why a statement or a whole connection failed, in words an operator can act on. */
export interface FailureCause {
  /** The SQLSTATE, or the socket's error code (ECONNRESET, ETIMEDOUT), when there was one. */
  code: string | undefined;
  /** The server's (or the client library's) own message. */
  message: string;
  /** What ended it, and where that is set. */
  cause: string;
  /** Whether the connection is gone (else only the statement, or its transaction, failed). */
  lost: boolean;
}

/** The two idle timeouts are named here only (src/db/sqlstate.ts has the codes we react to). */
const IDLE_SESSION_TIMEOUT = '57P05';
const IDLE_IN_TRANSACTION_TIMEOUT = '25P03';

const BY_SQLSTATE: Record<string, { cause: string; lost: boolean }> = {
  [IDLE_SESSION_TIMEOUT]: {
    cause:
      'idle_session_timeout: the server ends a session idle that long between transactions ' +
      '(set for the role or the database: ALTER ROLE/DATABASE ... SET idle_session_timeout)',
    lost: true,
  },
  [IDLE_IN_TRANSACTION_TIMEOUT]: {
    cause:
      'idle_in_transaction_session_timeout: the server ends a session whose transaction stays idle ' +
      'that long (set for the role or the database)',
    lost: true,
  },
  [SQLSTATE.queryCanceled]: {
    cause:
      "statement_timeout (for the writer, the job's statementTimeoutMs) or a cancel request " +
      "(pg_cancel_backend): the server's message says which",
    lost: false,
  },
  [SQLSTATE.lockNotAvailable]: {
    cause:
      "lock_timeout (for the writer, the job's lockTimeoutMs): another session held a lock on the rows " +
      'or the table for longer',
    lost: false,
  },
  [SQLSTATE.adminShutdown]: {
    cause: 'an administrator ended the session: pg_terminate_backend(), or a server shutdown or restart',
    lost: true,
  },
  [SQLSTATE.crashShutdown]: {
    cause: 'a server crash: another backend failed and the server ended every session to recover',
    lost: true,
  },
  [SQLSTATE.cannotConnectNow]: {
    cause: 'the server cannot accept connections now: it is starting up, shutting down or recovering',
    lost: true,
  },
};

const SOCKET_ERRORS: Record<string, string> = {
  ECONNRESET: 'the connection was reset: by the server host, a proxy or a firewall on the way',
  EPIPE: 'the connection was closed while we wrote to it: by the server, a proxy or a firewall on the way',
  ETIMEDOUT:
    'the server or the network stopped answering: TCP keepalive or retransmission gave up on the connection',
};

/** What node-postgres says when the socket closed under it, naming no cause. */
const CLOSED = [
  'Connection terminated unexpectedly',
  'Client has encountered a connection error and is not queryable',
];

const UNNAMED =
  'the server or the network closed the connection without naming a cause; candidates: a server-side ' +
  'timeout, a server restart, a proxy, load balancer or firewall on the way (PgBouncer, a cloud proxy)';

/**
 * The cause of `error` when it is a timeout, a cancel or a lost connection (else undefined:
 * an ordinary error names itself). `connectionFailure` is what the connection itself failed
 * with first (Connection.failure): when `error` is only the client library noticing the
 * closed socket, that one names the cause (the server's FATAL before it closed).
 */
export function failureCause(error: unknown, connectionFailure?: Error): FailureCause | undefined {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string') {
    const known = BY_SQLSTATE[code];
    if (known) return { code, message, ...known };
    const socket = SOCKET_ERRORS[code];
    if (socket) return { code, message, cause: socket, lost: true };
  }
  if (!CLOSED.some((closed) => message.includes(closed))) return undefined;
  if (connectionFailure !== undefined && connectionFailure !== error) {
    const first = failureCause(connectionFailure);
    if (first) return first;
  }
  return { code: undefined, message, cause: UNNAMED, lost: true };
}
