import type pg from 'pg';
import { serverTimeoutsStatement } from '../sql/catalog.js';
import { ok, type Finding } from './finding.js';

/**
 * What each server timeout does to the reconciler when the role, the database or the
 * configuration sets it. None stops it (issue #9): every transaction of ours sets its own
 * statement, lock and idle-in-transaction timeouts (the writer from the job's
 * statementTimeoutMs and lockTimeoutMs, the scan none: it is long by nature), and each
 * session turns idle_session_timeout off for itself. `check` says so, so that a DBA who set
 * one does not wonder whether the reconciler is exempt, and knows where the job's own
 * limits are.
 */
const EFFECT: Record<string, string> = {
  statement_timeout:
    "each write transaction uses the job's statementTimeoutMs instead; the scan has none (it is one long statement)",
  lock_timeout:
    "each write transaction uses the job's lockTimeoutMs instead; the scan waits for table locks, bounded by runTimeout",
  idle_in_transaction_session_timeout:
    "turned off in the reconciler's transactions (the scan waits idle while a batch commits)",
  idle_session_timeout: "turned off for the reconciler's own sessions",
  transaction_timeout:
    'turned off in every transaction of the reconciler (it would end the session, not the transaction); each statement keeps its statement_timeout',
};

interface TimeoutRow {
  name: string;
  setting: string;
  unit: string | null;
  source: string;
}

export async function timeoutFindings(client: pg.ClientBase): Promise<Finding[]> {
  const { rows } = await client.query<TimeoutRow>(serverTimeoutsStatement());
  if (rows.length === 0) return [ok('no server timeout is set for this role or database')];
  return rows.map((row) =>
    ok(
      `${row.name} = ${row.setting}${row.unit ?? ''} (set by ${row.source}): ${EFFECT[row.name] ?? 'not used by the reconciler'}`,
    ),
  );
}
