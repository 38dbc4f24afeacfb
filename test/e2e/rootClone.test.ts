import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COPY_PREFIX, packagedInstallation, startEmbeddedPostgres } from '../../demo/embeddedPostgres.js';

/*
 * A new user as root, with the checkout in a 0700 directory (/root/..., mktemp -d): the server
 * runs as `postgres` (PostgreSQL refuses root), which cannot enter the checkout. Here the
 * binaries sit in such a directory, and the embedded server must still start, from a copy of
 * them it makes where `postgres` can reach them, reused by the next start and rebuilt when
 * damaged. As another user the problem does not arise (the server runs as that user): skipped.
 */

const asRoot = process.getuid?.() === 0;

async function binDir(url: string): Promise<string> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows } = await client.query<{ setting: string }>(
      "SELECT setting FROM pg_config WHERE name = 'BINDIR'",
    );
    return rows[0]?.setting ?? '';
  } finally {
    await client.end();
  }
}

describe.skipIf(!asRoot)('as root, with the binaries in a directory only root can enter', () => {
  let closed: string;
  let installation: string;
  let copyRoot: string;
  let copy: string;

  beforeAll(() => {
    closed = mkdtempSync(join(tmpdir(), 'status-reconciler-closed-'));
    expect(statSync(closed).mode & 0o777).toBe(0o700);
    installation = join(closed, 'native');
    cpSync(packagedInstallation().dir, installation, { recursive: true, verbatimSymlinks: true });
    copyRoot = mkdtempSync(join(tmpdir(), 'status-reconciler-copies-'));
    chmodSync(copyRoot, 0o755);
    copy = join(copyRoot, `${COPY_PREFIX}custom`);
  });
  afterAll(() => {
    rmSync(closed, { recursive: true, force: true });
    rmSync(copyRoot, { recursive: true, force: true });
  });

  it('starts, running the binaries from a copy the user postgres can reach', async () => {
    const server = await startEmbeddedPostgres({ installation, copyRoot });
    try {
      expect(await binDir(server.url)).toBe(join(copy, 'bin'));
    } finally {
      await server.stop();
    }
    // The copy was needed: postgres (created by the start if it was missing) cannot run these.
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
    const direct = spawnSync(join(installation, 'bin', 'postgres'), ['--version'], { uid, gid });
    expect(direct.error?.message ?? `exit ${direct.status}`).toMatch(/EACCES/);
    const copied = spawnSync(join(copy, 'bin', 'postgres'), ['--version'], { uid, gid, encoding: 'utf8' });
    expect(copied.stdout).toMatch(/PostgreSQL/);
  });

  it('reuses the copy on the next start', async () => {
    const before = statSync(copy);
    const server = await startEmbeddedPostgres({ installation, copyRoot });
    await server.stop();
    expect(statSync(copy).ino).toBe(before.ino);
    expect(statSync(copy).ctimeMs).toBe(before.ctimeMs);
  });

  it('rebuilds a copy that lost a file, or that others could have written to', async () => {
    const bki = join(copy, 'share', 'postgresql', 'postgres.bki');
    expect(existsSync(bki)).toBe(true);
    rmSync(bki); // initdb cannot do without it
    let server = await startEmbeddedPostgres({ installation, copyRoot });
    await server.restart();
    await server.stop();
    expect(existsSync(bki)).toBe(true);

    chmodSync(copy, 0o777);
    const before = statSync(copy).ino;
    server = await startEmbeddedPostgres({ installation, copyRoot });
    await server.stop();
    expect(statSync(copy).ino).not.toBe(before);
    expect(statSync(copy).mode & 0o777).toBe(0o755);
  });
});
