import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CLI, type CliResult, type RunningCli } from './cli.js';
import { freePort } from './prometheus.js';
import { lookupTool, type Tool } from './tools.js';

/** PgBouncer: PGBOUNCER, else on PATH, else Debian's /usr/sbin (not on every user's PATH). */
export function pgbouncerTool(): Tool {
  const install = 'apt-get install -y --no-install-recommends pgbouncer, or bash .ci/install-tools (as root)';
  const found = lookupTool('pgbouncer', 'PGBOUNCER');
  const debian = process.env.PGBOUNCER ? found : lookupTool('/usr/sbin/pgbouncer');
  return { ...(found.path ? found : debian.path ? debian : found), name: 'pgbouncer', install };
}

export interface PgBouncer {
  /** `url` (a database on the server behind it) with PgBouncer's host and port instead. */
  through(url: string): string;
  /** Its log so far. */
  log(): string;
  /** SIGTERM (an immediate shutdown in 1.18), waits for the process to end, removes its directory. */
  stop(): Promise<void>;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A real PgBouncer in transaction pooling in front of the server of `serverUrl`, on a free
 * loopback port, with an ini of its own in a temporary directory. It refuses to run as
 * root: then it runs as the user `postgres`, who owns that directory. Clients log in
 * without a password (trust, every user of the userlist); PgBouncer logs in to the server
 * with the URL's user and password.
 */
export async function startPgBouncer(
  binary: string,
  serverUrl: string,
  settings: Record<string, string | number> = {},
): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  const dir = mkdtempSync(join(tmpdir(), 'sr-pgbouncer-'));
  const port = await freePort();
  const file = (name: string): string => join(dir, name);
  const quote = (value: string): string => `'${value.replace(/'/g, "''")}'`;
  const target = [`host=${server.hostname || '127.0.0.1'}`, `port=${server.port || 5432}`];
  if (password) target.push(`user=${quote(user)}`, `password=${quote(password)}`);
  const ini = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: file('userlist.txt'),
    pool_mode: 'transaction',
    default_pool_size: 3,
    max_client_conn: 500,
    ignore_startup_parameters: 'extra_float_digits',
    logfile: file('pgbouncer.log'),
    pidfile: file('pgbouncer.pid'),
    ...settings,
  };
  writeFileSync(file('userlist.txt'), `"${user.replace(/"/g, '""')}" ""\n`);
  writeFileSync(
    file('pgbouncer.ini'),
    `[databases]\n* = ${target.join(' ')}\n\n[pgbouncer]\n` +
      Object.entries(ini)
        .map(([key, value]) => `${key} = ${value}`)
        .join('\n') +
      '\n',
    { mode: 0o600 },
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
    for (const name of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(file(name), id('-u'), id('-g'));
  }
  const [command, args] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', binary, '-d', file('pgbouncer.ini')]]
    : [binary, ['-d', file('pgbouncer.ini')]];
  const log = (): string => {
    try {
      return readFileSync(file('pgbouncer.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const pid = (): number | undefined => {
    try {
      return Number(readFileSync(file('pgbouncer.pid'), 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  const stop = async (): Promise<void> => {
    const running = pid();
    if (running !== undefined && alive(running)) {
      process.kill(running, 'SIGTERM');
      for (let i = 0; i < 200 && alive(running); i++) await sleep(25);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const through = (url: string): string => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    u.password = '';
    return u.toString();
  };
  try {
    const started = await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    if (started.code !== 0) throw new Error(`pgbouncer -d exited ${started.code}: ${started.stderr}`);
    // Ready when it answers a login (which also checks the way on to the server).
    for (let attempt = 0; ; attempt++) {
      const client = new pg.Client({ connectionString: through(serverUrl) });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        break;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (attempt > 100) throw new Error(`pgbouncer did not answer: ${String(error)}\n${log()}`);
        await sleep(50);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { through, log, stop };
}

/** The reconciler's built CLI, or another build of it (RECONCILER_CLI: e.g. an older commit's dist/cli.js). */
export const RECONCILER_CLI = process.env.RECONCILER_CLI ?? CLI;

/** Starts RECONCILER_CLI as startCli does (test/helpers/cli.ts) the built one. */
export function startReconciler(args: string[], env: Record<string, string>): RunningCli {
  const child = spawn(process.execPath, [RECONCILER_CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}
