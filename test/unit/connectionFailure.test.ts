import { describe, expect, it } from 'vitest';
import { failureCause } from '../../src/db/connectionFailure.js';

/** An error as node-postgres makes it from the server's ErrorResponse. */
function serverError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: 'FATAL' });
}

describe('failureCause', () => {
  it.each([
    ['57P05', 'terminating connection due to idle-session timeout', /^idle_session_timeout/, true],
    [
      '25P03',
      'terminating connection due to idle-in-transaction timeout',
      /^idle_in_transaction_session_timeout/,
      true,
    ],
    [
      '57014',
      'canceling statement due to statement timeout',
      /^statement_timeout .* or a cancel request/,
      false,
    ],
    ['55P03', 'canceling statement due to lock timeout', /^lock_timeout/, false],
    [
      '57P01',
      'terminating connection due to administrator command',
      /pg_terminate_backend\(\), or a server shutdown/,
      true,
    ],
    ['57P02', 'terminating connection because of crash of another server process', /^a server crash/, true],
    ['57P03', 'the database system is starting up', /^the server cannot accept connections now/, true],
  ])('names SQLSTATE %s', (code, message, cause, lost) => {
    const named = failureCause(serverError(code, message));
    expect(named).toMatchObject({ code, message, lost });
    expect(named?.cause).toMatch(cause);
  });

  it('names a bare "Connection terminated unexpectedly": the server or network, and the candidates', () => {
    const named = failureCause(new Error('Connection terminated unexpectedly'));
    expect(named).toMatchObject({ code: undefined, lost: true });
    expect(named?.cause).toMatch(/^the server or the network closed the connection without naming a cause/);
    expect(named?.cause).toMatch(/server-side timeout, a server restart, a proxy/);
  });

  it("takes the connection's first failure (the server's FATAL before it closed) as the cause", () => {
    const fatal = serverError('57P05', 'terminating connection due to idle-session timeout');
    for (const noticed of [
      'Client has encountered a connection error and is not queryable',
      'Connection terminated unexpectedly',
    ]) {
      expect(failureCause(new Error(noticed), fatal)).toMatchObject({
        code: '57P05',
        message: 'terminating connection due to idle-session timeout',
        lost: true,
      });
    }
  });

  it('names socket errors, and leaves ordinary errors alone', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(failureCause(reset)?.cause).toMatch(/reset/);
    const timedOut = Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' });
    expect(failureCause(timedOut)?.cause).toMatch(/stopped answering/);
    expect(failureCause(serverError('23505', 'duplicate key value'))).toBeUndefined();
    expect(failureCause(new Error('another runner took over'))).toBeUndefined();
  });
});
