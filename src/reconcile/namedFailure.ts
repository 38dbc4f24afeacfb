import { failureCause } from '../db/connectionFailure.js';
import type { PassEnd } from './passEnd.js';
import type { RunWatch } from './runWatch.js';

/** A pass failed on a timeout, a cancel or a lost connection: the message names which, where. */
export class PassFailure extends Error {
  override readonly name = 'PassFailure';
  constructor(
    message: string,
    /** The SQLSTATE (or socket error code) of the cause, when it had one. */
    readonly code: string | undefined,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/**
 * How a pass ended, with its error named: past the job's runTimeout, a failure naming the
 * stall (whatever the pass did after it, the checkpoint is not advanced); a timeout or a
 * lost connection, its cause (src/db/connectionFailure.ts), the connection (scan or
 * writer) and the job; any other error as it is.
 */
export function namedFailure(end: PassEnd, job: string, watch: RunWatch): PassEnd {
  if (watch.expired) {
    return { ...end, outcome: 'failure', commit: {}, error: watch.timeoutError(end.error) };
  }
  if (end.error === undefined) return end;
  const connection = watch.connectionOf(end.error);
  const cause = failureCause(end.error, connection?.failure);
  if (cause === undefined) return end;
  const where =
    connection === undefined
      ? `a connection of job "${job}"`
      : `the ${watch.label(connection)} connection of job "${job}" (backend pid ${connection.pid})`;
  const what = cause.lost ? `${where} was closed` : `a statement on ${where} failed`;
  // A SQLSTATE is five characters with a digit (57P05); a socket's code is a word (EPIPE).
  const sqlstate = cause.code !== undefined && /^(?=.*[0-9])[0-9A-Z]{5}$/.test(cause.code);
  const code = cause.code === undefined ? '' : sqlstate ? `SQLSTATE ${cause.code}: ` : `${cause.code}: `;
  const error = new PassFailure(`${what}: ${cause.cause} [${code}${cause.message}]`, cause.code, {
    cause: end.error,
  });
  return { ...end, error };
}
