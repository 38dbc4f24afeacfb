import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * A real Citus cluster for the tests: ../shared/tools/citus-cluster (beside this checkout, see
 * ../shared/notes/tooling.md) starts a coordinator and workers of Citus 13.2 on the machine's
 * PostgreSQL 15 in seconds. CITUS_CLUSTER=/path/to/citus-cluster names another copy;
 * CITUS_COORDINATOR_URL (with CITUS_WORKER_URLS) uses a cluster already running.
 */

export interface CitusCluster {
  coordinatorUrl: string;
  workerUrls: string[];
  stop(): void;
}

/** Where the cluster tool is, or why it cannot be used. */
export function citusTool(): { path?: string; problem?: string } {
  if (process.env.CITUS_COORDINATOR_URL) return {};
  const path =
    process.env.CITUS_CLUSTER ??
    fileURLToPath(new URL('../../../shared/tools/citus-cluster', import.meta.url));
  if (!existsSync(path)) return { problem: `the Citus cluster tool is not at ${path}` };
  if (process.getuid?.() !== 0)
    return { problem: 'citus-cluster installs Citus into the server: it needs root' };
  return { path };
}

export function startCitus(workers = 2): CitusCluster {
  if (process.env.CITUS_COORDINATOR_URL) {
    return {
      coordinatorUrl: process.env.CITUS_COORDINATOR_URL,
      workerUrls: (process.env.CITUS_WORKER_URLS ?? '').split(/\s+/).filter(Boolean),
      stop: () => undefined,
    };
  }
  const tool = citusTool();
  if (!tool.path) throw new Error(tool.problem);
  // (the tool creates the cluster's directory itself: one that exists already is refused)
  // and it runs the servers as postgres, who must reach it: mkdtemp makes it 0700.
  const parent = mkdtempSync(join(tmpdir(), 'sr-citus-'));
  chmodSync(parent, 0o755);
  const dir = join(parent, 'cluster');
  const out = execFileSync(tool.path, ['start', dir, String(workers)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const value = (name: string): string => {
    const match = new RegExp(`${name}=('([^']*)'|(\\S+))`).exec(out);
    if (!match) throw new Error(`citus-cluster printed no ${name}:\n${out}`);
    return (match[2] ?? match[3]) as string;
  };
  return {
    coordinatorUrl: value('CITUS_COORDINATOR_URL'),
    workerUrls: value('CITUS_WORKER_URLS').split(/\s+/).filter(Boolean),
    stop: () => {
      execFileSync(tool.path as string, ['stop', dir], { timeout: 60_000 });
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
