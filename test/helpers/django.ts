import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tool } from './tools.js';

/** The example project (manage.py is there) and the script that drives its ORM for the tests. */
export const DJANGO_EXAMPLE = fileURLToPath(new URL('../../examples/django/', import.meta.url));
export const DJANGO_CLIENT = fileURLToPath(new URL('./django_client.py', import.meta.url));

const INSTALL =
  'apt-get install -y --no-install-recommends python3-django python3-psycopg2, or bash .ci/install-tools (as root)';
const PROBE = 'import django, psycopg2; print(django.get_version())';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function djangoVersion(python: string): { version?: string; problem?: string } {
  const probe = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 20_000 });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim().split('\n').pop();
    return { problem: `${python}: ${why}` };
  }
  const version = probe.stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 3 || (major === 3 && minor < 2)) return { problem: `${python}: Django ${version}, not 3.2+` };
  return { version };
}

/**
 * A python3 that imports Django 3.2+ and psycopg2: DJANGO_PYTHON when set, else Debian's
 * /usr/bin/python3 (where python3-django installs), else each python3 on PATH. Debian's comes
 * first because another python3 may come first on PATH (pyenv's shim, say) and not see
 * Debian's packages.
 */
export function djangoPython(): Tool & { version?: string } {
  const name = 'python3 with Django and psycopg2';
  const explicit = process.env.DJANGO_PYTHON;
  const onPath = (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, 'python3'));
  const candidates = explicit ? [explicit] : [...new Set(['/usr/bin/python3', ...onPath])].filter(executable);
  const problems: string[] = [];
  for (const python of candidates) {
    const found = djangoVersion(python);
    if (found.version) return { name, path: python, version: found.version, install: INSTALL };
    problems.push(found.problem ?? python);
  }
  const tried = problems.length > 0 ? problems.join('; ') : 'no python3 found';
  return {
    name,
    problem: `no python3 imports Django 3.2+ and psycopg2 (${explicit ? 'DJANGO_PYTHON: ' : ''}${tried})`,
    install: INSTALL,
  };
}

export interface PythonResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of the example's processes: its database and nothing of the test's own. */
export function djangoEnv(databaseUrl: string): Record<string, string> {
  // No __pycache__ in the checkout.
  return { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, PYTHONDONTWRITEBYTECODE: '1' };
}

export interface PythonProcess {
  child: ChildProcess;
  /** Resolves with the first line of stdout. */
  firstLine: Promise<string>;
  done: Promise<PythonResult>;
}

/** Runs `python args...` in the example's directory. */
export function startPython(python: string, args: string[], env: Record<string, string>): PythonProcess {
  const child = spawn(python, args, { cwd: DJANGO_EXAMPLE, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onLine: (line: string) => void = () => undefined;
  const firstLine = new Promise<string>((resolve) => (onLine = resolve));
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const end = stdout.indexOf('\n');
    if (end >= 0) onLine(stdout.slice(0, end));
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<PythonResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      onLine(''); // a process that ends before its first line
      resolve({ code, stdout, stderr });
    });
  });
  return { child, firstLine, done };
}

/** Runs `python manage.py args...` in the example; fails with its output unless it exits 0. */
export async function manage(python: string, args: string[], env: Record<string, string>): Promise<string> {
  const running = startPython(python, ['manage.py', ...args], env);
  running.child.stdin?.end();
  const result = await running.done;
  if (result.code !== 0) {
    throw new Error(`manage.py ${args.join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}
