import { readFileSync } from 'node:fs';
import type { TestContext } from 'vitest';
import type { TestDatabase } from './database.js';
import { unmet } from './tools.js';

/** A server backend stopped with SIGSTOP; resume() (SIGCONT) is safe to call more than once. */
export interface StoppedBackend {
  pid: number;
  resume(): void;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1', '']);

/**
 * Whether this process can signal the backends of the test server: the server runs on this
 * machine (the embedded one, or a TEST_DATABASE_URL on localhost) and we may signal its
 * processes (as root; the server runs as postgres). When not: unmet() (fails under CI=true,
 * else skips the test with the reason).
 */
export async function canSignalBackends(db: TestDatabase, context: TestContext): Promise<boolean> {
  const host = new URL(db.url).hostname;
  if (!LOCAL_HOSTS.has(host)) {
    unmet(
      `the test server (${host}) is not on this machine, so its backends cannot be signalled`,
      'run the tests against the embedded server or a local TEST_DATABASE_URL',
      context,
    );
    return false;
  }
  const [row] = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const pid = row?.pid ?? 0;
  try {
    if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) throw new Error('not postgres');
    process.kill(pid, 0);
    return true;
  } catch (error) {
    unmet(
      `cannot signal the server's backend processes (pid ${pid}: ${(error as Error).message})`,
      'run the tests as root (the server runs as the user postgres)',
      context,
    );
    return false;
  }
}

/** Stops (SIGSTOP) the backend of the session with this application_name in the test database. */
export async function stopBackend(db: TestDatabase, applicationName: string): Promise<StoppedBackend> {
  const rows = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
    [applicationName],
  );
  if (rows.length !== 1) {
    throw new Error(`expected one session "${applicationName}", found ${rows.length}`);
  }
  const pid = rows[0]!.pid;
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  return {
    pid,
    resume() {
      if (resumed) return;
      resumed = true;
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    },
  };
}
