import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/** How to get each external tool the deploy tests use (CI runs .ci/install-tools). */
const INSTALL: Record<string, string> = {
  kubectl:
    'kubectl 1.21 or later (kustomize 4+); Debian: apt-get install kubernetes-client (1.20: base only), or bash .ci/install-tools',
  promtool: 'apt-get install --no-install-recommends prometheus, or bash .ci/install-tools',
  yamllint: 'apt-get install yamllint (or pip install yamllint), or bash .ci/install-tools',
};

/**
 * The absolute path of a command on PATH, or undefined. `override` (an environment variable
 * such as KUBECTL) may name another binary, e.g. to test with an older kubectl.
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
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** Says, once per test file, which tool is missing, what is skipped and how to install it. */
export function warnMissing(tool: string, skipped: string): void {
  console.warn(
    `SKIPPED ${skipped}: ${tool} is not installed. Install ${INSTALL[tool] ?? tool}. CI installs it.`,
  );
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], cwd = ROOT): RunResult {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Fails with the tool's own output when it exits non-zero. */
export function runOk(command: string, args: string[], cwd = ROOT): string {
  const result = run(command, args, cwd);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status}\n${result.stdout}\n${result.stderr}`.trim(),
    );
  }
  return result.stdout;
}
