import type { WriteStream } from 'node:tty';
import type { Shard } from '../config/shard.js';
import type { DestinationStream } from '../log.js';
import type { PassProgress, PassProgressCounts, PassProgressEnd } from '../reconcile/progress.js';
import { endLine, runningLine, type LineStyle } from './progressLine.js';

/** Five redraws a second: the spinner, rate and time left look alive, and cost the pass nothing. */
const REDRAW_MS = 200;
/** Back to the start of the line, and erase it (ANSI EL2). */
const CLEAR_LINE = '\r\x1b[2K';
/** When the terminal does not say (a pseudo-terminal without a size has 0 columns). */
const DEFAULT_WIDTH = 80;

/** What the bar draws on: a terminal (process.stderr). */
export type Terminal = Pick<WriteStream, 'write' | 'columns'>;

/**
 * The progress bar of `run` when stderr is a terminal; none otherwise (a CronJob, a test, a
 * pipe: nothing changes there), nor under TERM=dumb, which cannot erase a line, so every redraw
 * would pile up. Colours unless NO_COLOR is set (https://no-color.org).
 */
export function terminalProgress(
  stream: NodeJS.WriteStream,
  env: NodeJS.ProcessEnv = process.env,
): ProgressBar | undefined {
  if (!stream.isTTY || env.TERM === 'dumb') return undefined;
  return new ProgressBar(stream, { colour: !env.NO_COLOR });
}

interface Pass {
  label: string;
  dryRun: boolean;
  started: number;
  scanStarted: number | undefined;
  expectedRows: number | undefined;
  counts: PassProgressCounts | undefined;
}

/**
 * One line on the terminal per pass, redrawn in place (`\r` and erase) at most every
 * REDRAW_MS while the pass runs, then replaced by how it ended and a newline. Whatever else
 * is written meanwhile starts on a clean line: the log's lines (through `beside`: the bar
 * steps aside and is drawn again under them) and anything written to the terminal itself (a
 * Node warning; the bar is drawn again at the next tick).
 */
export class ProgressBar implements PassProgress {
  private pass: Pass | undefined;
  private drawn = false;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private restoreWrite: (() => void) | undefined;
  /** Writes on the terminal itself, past the interception of its `write`. */
  private readonly put: (text: string) => void;
  private readonly now: () => number;
  private readonly onExit = (): void => this.close();

  constructor(
    private readonly terminal: Terminal,
    private readonly options: { colour: boolean; now?: () => number },
  ) {
    const write = terminal.write;
    this.put = (text) => void write.call(terminal, text);
    this.now = options.now ?? (() => performance.now());
  }

  passStarted(pass: { job: string; shard: Shard | undefined; dryRun: boolean }): void {
    if (this.pass) this.close();
    this.pass = {
      label: pass.shard ? `${pass.job} (shard ${pass.shard.index}/${pass.shard.count})` : pass.job,
      dryRun: pass.dryRun,
      started: this.now(),
      scanStarted: undefined,
      expectedRows: undefined,
      counts: undefined,
    };
    this.interceptWrites();
    // A second signal exits at once (src/signals.ts): the shell's prompt then starts on a line of its own.
    process.on('exit', this.onExit);
    this.timer = setInterval(() => {
      this.frame += 1;
      this.redraw();
    }, REDRAW_MS);
    this.timer.unref();
    this.redraw();
  }

  scanStarted(expectedRows: number | undefined): void {
    if (!this.pass) return;
    this.pass.scanStarted = this.now();
    this.pass.expectedRows = expectedRows;
  }

  progressed(counts: PassProgressCounts): void {
    if (!this.pass) return;
    const { rowsExamined, duplicatesFound, duplicatesRemoved } = counts;
    this.pass.counts = { rowsExamined, duplicatesFound, duplicatesRemoved };
  }

  passEnded(end: PassProgressEnd): void {
    const pass = this.pass;
    if (!pass) return;
    this.stop();
    this.put(`${CLEAR_LINE}${endLine(pass.label, end, this.style())}\n`);
  }

  /**
   * The log's destination, written beside the bar: the bar's line is erased before each log
   * line and drawn again after it, so neither is cut. The bytes of the log are unchanged.
   */
  beside(destination: DestinationStream): DestinationStream {
    return {
      write: (line: string) => {
        const drawn = this.drawn;
        this.clear();
        destination.write(line);
        if (drawn) this.redraw();
      },
    };
  }

  /** Ends a pass that did not end (the run threw, or the process exits): its line stays, then a newline. */
  close(): void {
    if (!this.pass) return;
    const drawn = this.drawn;
    this.stop();
    if (drawn) this.put('\n');
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.restoreWrite?.();
    this.restoreWrite = undefined;
    process.off('exit', this.onExit);
    this.pass = undefined;
    this.drawn = false;
  }

  private redraw(): void {
    const pass = this.pass;
    if (!pass) return;
    const now = this.now();
    const line = runningLine(
      {
        label: pass.label,
        dryRun: pass.dryRun,
        elapsedSeconds: (now - pass.started) / 1000,
        scanSeconds: pass.scanStarted === undefined ? undefined : (now - pass.scanStarted) / 1000,
        counts: pass.counts,
        expectedRows: pass.expectedRows,
        frame: this.frame,
      },
      this.style(),
    );
    this.put(`${CLEAR_LINE}${line}`);
    this.drawn = true;
  }

  private clear(): void {
    if (!this.drawn) return;
    this.put(CLEAR_LINE);
    this.drawn = false;
  }

  private style(): LineStyle {
    return { width: this.terminal.columns || DEFAULT_WIDTH, colour: this.options.colour };
  }

  /** While a pass runs, anything else written to the terminal erases the bar's line first. */
  private interceptWrites(): void {
    const terminal = this.terminal;
    const own = Object.prototype.hasOwnProperty.call(terminal, 'write');
    const original = terminal.write;
    const intercepted = (...args: unknown[]): boolean => {
      this.clear();
      return (original as (...a: unknown[]) => boolean).apply(terminal, args);
    };
    terminal.write = intercepted as Terminal['write'];
    this.restoreWrite = () => {
      if (own) terminal.write = original;
      else delete (terminal as Partial<Terminal>).write;
    };
  }
}
