import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { expect, type TestContext } from 'vitest';

/*
 * What a test needs from outside the repository (a command-line tool, a server setting). When it
 * is missing: under CI=true (.ci/run exports it, and installs everything) the test FAILS and says
 * what is missing and how to get it, since a skip there would hide an untested path behind a
 * green run; elsewhere (a laptop without promtool, say) the test is skipped and says why.
 */

/** How to get each tool the tests use; `bash .ci/install-tools` (as root) installs them all. */
const INSTALL: Record<string, string> = {
  promtool: 'apt-get install -y --no-install-recommends prometheus',
  prometheus: 'apt-get install -y --no-install-recommends prometheus',
  'prometheus-pushgateway': 'apt-get install -y --no-install-recommends prometheus-pushgateway',
  yamllint: 'apt-get install -y --no-install-recommends yamllint',
  script: 'apt-get install -y bsdutils',
};

export function inCi(): boolean {
  return process.env.CI === 'true';
}

/** A tool as found, or not: `path` when usable, else `problem` says why not. */
export interface Tool {
  name: string;
  path?: string;
  problem?: string;
  /** What to install and how ("apt-get install ..."). */
  install: string;
}

/**
 * The absolute path of a command on PATH, or undefined. `override` (an environment variable such
 * as KUBECTL) may name another binary, e.g. to test with an older kubectl.
 */
export function findTool(name: string, override?: string): string | undefined {
  const explicit = override ? process.env[override] : undefined;
  const candidates = explicit
    ? [explicit]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** Looks a tool up on PATH (or in the `override` environment variable). */
export function lookupTool(name: string, override?: string): Tool {
  const install = `${INSTALL[name] ?? name}, or bash .ci/install-tools (as root)`;
  const path = findTool(name, override);
  if (path) return { name, path, install };
  const where = override && process.env[override] ? `${override}=${process.env[override]}` : 'PATH';
  return { name, problem: `${name} is not installed (not found on ${where})`, install };
}

/**
 * Something the test needs is missing (`problem`; `fix` says how to get it). With a test context:
 * under CI=true throws (the test fails), elsewhere prints the reason and skips the test. Without
 * one (only part of a test needs it): throws under CI=true, elsewhere prints the reason and
 * returns, and the caller leaves that part out.
 */
export function unmet(problem: string, fix: string, context?: TestContext, part?: string): void {
  const test = context?.task.name ?? expect.getState().currentTestName;
  const what = [test, part].filter(Boolean).join(': ') || 'a test';
  if (inCi()) {
    throw new Error(
      `${what}: ${problem}; ${fix} (CI=true: a missing prerequisite fails the test instead of skipping it)`,
    );
  }
  const reason = `${problem}; ${fix}`;
  console.warn(`SKIPPED ${what}: ${reason}`);
  if (context) context.skip(reason);
}

/**
 * The path of a tool the test needs (a name looked up on PATH, or a Tool already resolved). When
 * it is missing: see unmet(). With a context it returns only when the tool is there; without one
 * it returns undefined (outside CI) and the caller skips the part that needs the tool.
 */
export function requireTool(tool: string | Tool, context: TestContext): string;
export function requireTool(tool: string | Tool, context: undefined, part: string): string | undefined;
export function requireTool(tool: string | Tool, context?: TestContext, part?: string): string | undefined {
  const found = typeof tool === 'string' ? lookupTool(tool) : tool;
  if (found.path) return found.path;
  unmet(found.problem ?? `${found.name} is not usable`, `to install: ${found.install}`, context, part);
  return undefined;
}
