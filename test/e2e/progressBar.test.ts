/*
 * The progress bar of `run`, through the built CLI under a real pseudo-terminal (util-linux
 * `script`), against a real PostgreSQL: drawn on stderr when stderr is a terminal, nothing of
 * it otherwise, and the JSON log on stdout the same either way. Counts are checked against
 * the independent collapse oracle, not the reconciler's own.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { CLI, logLines, runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  collapse,
  historyRowsSql,
  holdLease,
  resetHistoryTable,
  STANDARD_JOB,
  type HistoryRow,
} from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import { lookupTool, requireTool } from '../helpers/tools.js';

const CLEAR = '\r\x1b[2K';
const ESC = String.fromCharCode(27);
const SGR = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');
const ROWS = 2000;
/** util-linux's `script` (Debian: bsdutils, essential): runs a command under a pseudo-terminal. */
const SCRIPT = lookupTool('script');

interface TerminalRun {
  code: number | null;
  /** What the terminal received (the pty turns each \n into \r\n). */
  terminal: string;
}

function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The CLI under a pseudo-terminal 100 columns wide: stderr is a TTY; so is stdout unless
 * `stdoutFile` is given. `until` is called with the terminal's output so far, each time more
 * arrives, until it first returns true; `whenSeen` then runs (say, to release a lock).
 */
function runInTerminal(
  args: string[],
  env: Record<string, string>,
  options: {
    stdoutFile?: string;
    until?: (terminal: string) => boolean;
    whenSeen?: () => Promise<void>;
  } = {},
): Promise<TerminalRun> {
  const redirect = options.stdoutFile ? ` > ${quote(options.stdoutFile)}` : '';
  const command = `stty cols 100; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}${redirect}`;
  const child = spawn(SCRIPT.path ?? 'script', ['-qec', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let terminal = '';
  let seen = options.until === undefined;
  let released: Promise<void> = Promise.resolve();
  const more = (chunk: Buffer): void => {
    terminal += chunk.toString();
    if (!seen && options.until?.(terminal)) {
      seen = true;
      released = options.whenSeen?.() ?? Promise.resolve();
    }
  };
  child.stdout.on('data', more);
  child.stderr.on('data', more);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      released.then(() => resolve({ code, terminal }), reject);
    });
  });
}

/** The terminal's output as lines, each as the text after its last erase: what a person sees. */
function screenLines(terminal: string): string[] {
  return terminal
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .map((line) => line.slice(line.lastIndexOf(CLEAR) < 0 ? 0 : line.lastIndexOf(CLEAR) + CLEAR.length))
    .map((line) => line.replace(SGR, ''))
    .filter((line) => line !== '');
}

/** Every drawing of the bar, in order, without colours. */
function frames(terminal: string): string[] {
  return terminal
    .split(CLEAR)
    .map((frame) => frame.replace(SGR, '').replace(/\r?\n[\s\S]*$/, ''))
    .filter((frame) => frame !== '');
}

describe('the progress bar at a terminal', () => {
  let db: TestDatabase;
  let dir: string;
  let duplicates: number;
  const files = jobFiles();
  const env = (): Record<string, string> => ({ DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await createTestDatabase('e2e_progress_bar');
    dir = mkdtempSync(join(tmpdir(), 'sr-progress-'));
  });
  afterAll(async () => {
    files.cleanup();
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  /**
   * The table afresh with 2,000 rows over 20 objects, a status repeated now and then; analyzed,
   * so it has a row estimate (pg_class.reltuples) and a full pass draws a bar against it.
   */
  async function seed(): Promise<void> {
    await resetHistoryTable(db);
    await db.query(`INSERT INTO public.object_status (object_id, status_id, start_date)
      SELECT g % 20, (g / 60) % 3 + CASE WHEN g % 7 = 0 THEN 1 ELSE 0 END,
             timestamptz '2024-01-01' + g * interval '1 minute'
        FROM generate_series(1, ${ROWS}) g`);
    await db.query('ANALYZE public.object_status');
    const shadow = await db.query<HistoryRow>(historyRowsSql('public.object_status_shadow'));
    duplicates = shadow.length - collapse(shadow).size;
    expect(duplicates).toBeGreaterThan(0);
  }

  beforeEach(async (context: TestContext) => {
    requireTool(SCRIPT, context);
    await seed();
  });

  const summaryOf = (lines: Record<string, unknown>[]): Record<string, unknown> | undefined =>
    lines.find((line) => line.msg === 'run summary');

  it('stderr a terminal: the bar there, ending in a line of the counts; stdout the same JSON lines as without one', async () => {
    const path = files.write(STANDARD_JOB);
    const stdoutFile = join(dir, 'stdout.json');
    const run = await runInTerminal(
      ['run', '--jobs', path, '--full'],
      { ...env(), NO_COLOR: '1' },
      { stdoutFile },
    );
    expect(run.code, run.terminal).toBe(0);
    expect(run.terminal).toContain(CLEAR);
    expect(run.terminal, 'NO_COLOR: no colours').not.toMatch(SGR);
    expect(frames(run.terminal)[0]).toMatch(/^⠋ object-status {2}starting… /);
    const [total, found] = [ROWS, duplicates].map((n) => n.toLocaleString('en-US'));
    expect(screenLines(run.terminal)).toEqual([
      expect.stringMatching(
        new RegExp(`^✓ object-status {2}${total} rows · ${found} dups, ${found} removed · \\d+\\.\\ds`),
      ),
    ]);
    expect(run.terminal.endsWith('\r\n'), 'the last line is ended').toBe(true);
    const stdout = readFileSync(stdoutFile, 'utf8');
    expect(stdout).not.toContain(ESC);
    expect(stdout.split('\n').filter(Boolean).length).toBe(logLines(stdout).length);
    const tty = logLines(stdout);
    expect(summaryOf(tty)).toMatchObject({
      outcome: 'success',
      rowsExamined: ROWS,
      duplicatesRemoved: duplicates,
    });

    // The same run on the same rows, without a terminal: nothing on stderr, and the same log
    // lines with the same fields on stdout.
    await seed();
    const piped = await runCli(['run', '--jobs', path, '--full'], env());
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    const plain = logLines(piped.stdout);
    expect(piped.stdout.split('\n').filter(Boolean).length).toBe(plain.length);
    expect(plain.map((line) => line.msg)).toEqual(tty.map((line) => line.msg));
    expect(Object.keys(summaryOf(plain)!)).toEqual(Object.keys(summaryOf(tty)!));
    expect(summaryOf(plain)).toMatchObject({ rowsExamined: ROWS, duplicatesRemoved: duplicates });
  });

  it('while the server sorts (here: the scan waits on a lock): "sorting…", no 0%; log lines meanwhile are whole', async () => {
    // runTimeout 10s: the stall warning (a log line in the middle of the pass) comes after 3.3 s.
    const path = files.write({ ...STANDARD_JOB, runTimeout: '10s' });
    const locker = await db.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE public.object_status IN ACCESS EXCLUSIVE MODE');
    const run = await runInTerminal(['run', '--jobs', path, '--full'], env(), {
      until: (terminal) =>
        terminal.includes('no progress for') && frames(terminal).some((f) => f.includes('sorting…')),
      whenSeen: async () => {
        await locker.query('COMMIT');
        await locker.end();
      },
    });
    expect(run.code, run.terminal).toBe(0);
    const drawn = frames(run.terminal);
    const sorting = drawn.map((f) => f.includes('sorting…')).lastIndexOf(true);
    expect(sorting).toBeGreaterThan(0);
    expect(
      drawn.slice(0, sorting).filter((f) => f.includes('%')),
      'no percent before the first rows',
    ).toEqual([]);
    expect(drawn[sorting]).toMatch(/^. object-status {2}sorting… \d+(\.\d)?s$/);

    // stdout shares the terminal: every JSON line is whole, on a line of its own, and parses.
    const lines = screenLines(run.terminal);
    for (const line of run.terminal.split('\n')) {
      for (const piece of line.split(CLEAR)) {
        expect(!piece.includes('{') || piece.startsWith('{'), JSON.stringify(line)).toBe(true);
      }
    }
    const json = lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(json.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^no progress for \d+ s: waiting for the scan/),
        'run summary',
      ]),
    );
    // The bar's last line comes before the summary, each on its own line.
    const done = lines.findIndex((line) => line.startsWith('✓ object-status  2,000 rows'));
    expect(done).toBeGreaterThanOrEqual(0);
    expect(lines.findIndex((line) => line.includes('"run summary"'))).toBe(done + 1);
  });

  it('a pass that fails ends its line before the failure is said on stderr', async () => {
    const path = files.write({ ...STANDARD_JOB, runTimeout: '2s' });
    const locker = await db.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE public.object_status IN ACCESS EXCLUSIVE MODE');
    try {
      const run = await runInTerminal(['run', '--jobs', path, '--full'], { ...env(), LOG_LEVEL: 'silent' });
      expect(run.code, run.terminal).toBe(1);
      const lines = screenLines(run.terminal);
      expect(lines).toEqual([
        expect.stringMatching(/^✗ object-status failed {2}0 rows · 0 dups, 0 removed · /),
        expect.stringMatching(/^status-reconciler: job "object-status" failed: .*runTimeout/),
      ]);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });

  it('a skipped job says why', async () => {
    const path = files.write(STANDARD_JOB);
    const holder = await holdLease(db, STANDARD_JOB.name);
    try {
      const run = await runInTerminal(['run', '--jobs', path], { ...env(), LOG_LEVEL: 'silent' });
      expect(run.code, run.terminal).toBe(0);
      expect(screenLines(run.terminal)).toEqual([
        expect.stringMatching(/^- object-status {2}skipped: another runner holds this job/),
      ]);
    } finally {
      await holder.end();
    }
  });

  it('--no-progress: nothing on the terminal', async () => {
    const path = files.write(STANDARD_JOB);
    const stdoutFile = join(dir, 'no-progress.json');
    const run = await runInTerminal(['run', '--jobs', path, '--full', '--no-progress'], env(), {
      stdoutFile,
    });
    expect(run.code, run.terminal).toBe(0);
    expect(run.terminal).toBe('');
    expect(summaryOf(logLines(readFileSync(stdoutFile, 'utf8')))).toMatchObject({
      duplicatesRemoved: duplicates,
    });
  });
});
