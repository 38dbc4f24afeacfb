/**
 * Writers' throughput: pgbench inserting history rows (one row per transaction, start_date
 * now(), `clients` connections) while something else runs. pgbench reports its throughput
 * every second (-P 1 --progress-timestamp); the tps of a window is the mean of those
 * one-second intervals weighted by their overlap with the window (the window of a contender
 * is its child process's wall time, so a pass shorter than a second is diluted by the
 * seconds around it: read short passes with that in mind).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Interval {
  /** Unix time in seconds of the interval's end; it covers [end - 1, end]. */
  end: number;
  tps: number;
}

export interface WindowTps {
  tps: number | undefined;
  /** The slowest whole second inside the window. */
  worst: number | undefined;
}

function script(table: string, objects: number): string {
  return [
    `\\set oid random(1, ${objects})`,
    `\\set sid random(1, 6)`,
    `INSERT INTO ${table} (object_id, status_id, start_date) VALUES (:oid, :sid, now());`,
    '',
  ].join('\n');
}

/** One pgbench run, started now, stopped by stop(); its per-second throughput. */
export class Pgbench {
  readonly intervals: Interval[] = [];
  private readonly child: ChildProcess;
  private readonly dir: string;
  private readonly done: Promise<void>;
  private stderr = '';

  constructor(
    binary: string,
    url: string,
    table: string,
    objects: number,
    clients: number,
    maxSeconds: number,
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'sr-bench-pgbench-'));
    const file = path.join(this.dir, 'insert.sql');
    writeFileSync(file, script(table, objects));
    this.child = spawn(
      binary,
      [
        '-n',
        '-f',
        file,
        '-c',
        String(clients),
        '-j',
        String(Math.min(clients, 2)),
        '-T',
        String(Math.ceil(maxSeconds)),
        '-P',
        '1',
        '--progress-timestamp',
        url,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, PGAPPNAME: 'status-reconciler-bench-pgbench' },
      },
    );
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      const lines = this.stderr.split('\n');
      this.stderr = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^progress: ([\d.]+) s, ([\d.]+) tps/.exec(line);
        if (m) this.intervals.push({ end: Number(m[1]), tps: Number(m[2]) });
        else if (/error|fatal|could not/i.test(line)) process.stderr.write(`pgbench: ${line}\n`);
      }
    });
    this.done = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', () => resolve());
    });
  }

  /** Waits until pgbench has reported `n` intervals (its connections are up and running). */
  async warmUp(n = 2, timeoutSeconds = 30): Promise<void> {
    const until = Date.now() + timeoutSeconds * 1000;
    while (this.intervals.length < n) {
      if (Date.now() > until || this.child.exitCode !== null) {
        throw new Error(`pgbench reported no progress (is ${this.child.spawnfile} a pgbench?)`);
      }
      await sleep(100);
    }
  }

  /** Stops pgbench once the interval that covers `after` (Unix seconds) has been reported. */
  async stop(after = Date.now() / 1000): Promise<void> {
    const until = Date.now() + 3000;
    while (Date.now() < until && !this.intervals.some((i) => i.end >= after + 1)) await sleep(100);
    this.child.kill('SIGINT');
    await this.done;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Throughput over [from, to] (Unix seconds). */
  window(from: number, to: number): WindowTps {
    let weighted = 0;
    let weight = 0;
    let worst: number | undefined;
    for (const i of this.intervals) {
      const overlap = Math.min(to, i.end) - Math.max(from, i.end - 1);
      if (overlap <= 0) continue;
      weighted += i.tps * overlap;
      weight += overlap;
      if (i.end - 1 >= from && i.end <= to) worst = worst === undefined ? i.tps : Math.min(worst, i.tps);
    }
    return { tps: weight > 0 ? weighted / weight : undefined, worst };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** pgbench's version line, or undefined if it cannot run. */
export function pgbenchVersion(binary: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(binary, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve(code === 0 ? out.trim() : undefined));
  });
}
