/*
 * The progress bar's drawing on a terminal stand-in: what reaches the terminal, in order.
 * The line's text itself is progressLine.test.ts's.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressBar, terminalProgress, type Terminal } from '../../src/terminal/progressBar.js';

const CLEAR = '\r\x1b[2K';

class FakeTerminal {
  columns = 100;
  readonly output: string[] = [];
  write(text: string): boolean {
    this.output.push(text);
    return true;
  }
  text(): string {
    return this.output.join('');
  }
}

const END = {
  outcome: 'success',
  dryRun: false,
  rowsExamined: 3000,
  duplicatesFound: 10,
  duplicatesRemoved: 10,
  durationSeconds: 1.5,
} as const;

describe('the progress bar on a terminal', () => {
  let clock = 0;
  let terminal: FakeTerminal;
  let bar: ProgressBar;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    clock = 0;
    terminal = new FakeTerminal();
    bar = new ProgressBar(terminal as unknown as Terminal, { colour: false, now: () => clock });
  });
  afterEach(() => {
    bar.close();
    vi.useRealTimers();
  });

  function tick(ms: number): void {
    clock += ms;
    vi.advanceTimersByTime(ms);
  }

  it('draws at once, then at most five times a second: starting, sorting, counts, then the end and a newline', () => {
    bar.passStarted({ job: 'object-status', shard: undefined, dryRun: false });
    expect(terminal.output).toEqual([`${CLEAR}⠋ object-status  starting… 0.0s`]);
    bar.scanStarted(10_000);
    tick(200);
    expect(terminal.output.at(-1)).toBe(`${CLEAR}⠙ object-status  sorting… 0.2s`);
    // Counts alone draw nothing: the next tick does.
    bar.progressed({ rowsExamined: 2000, duplicatesFound: 10, duplicatesRemoved: 0 });
    expect(terminal.output).toHaveLength(2);
    tick(1000);
    expect(terminal.output).toHaveLength(7);
    expect(terminal.output.at(-1)?.startsWith(CLEAR)).toBe(true);
    expect(terminal.output.at(-1)?.slice(CLEAR.length)).toMatch(/^⠦ object-status \[█+░+\] {2}20% /);
    bar.passEnded(END);
    expect(terminal.output.at(-1)).toBe(
      `${CLEAR}✓ object-status  3,000 rows · 10 dups, 10 removed · 1.5s (2,000 rows/s)\n`,
    );
    tick(1000);
    expect(terminal.output).toHaveLength(8);
  });

  it('a shard is named on the line', () => {
    bar.passStarted({ job: 'object-status', shard: { index: 1, count: 4 }, dryRun: false });
    expect(terminal.text()).toContain('object-status (shard 1/4)  starting…');
  });

  it('a log line beside it: the bar is erased first and drawn again under it; the line itself unchanged', () => {
    const log: string[] = [];
    const destination = bar.beside({ write: (line: string) => void log.push(line) });
    destination.write('{"msg":"before any pass"}\n');
    expect(terminal.output).toEqual([]);
    bar.passStarted({ job: 'object-status', shard: undefined, dryRun: false });
    terminal.output.length = 0;
    const order: string[] = [];
    const logging = bar.beside({
      write: (line: string) => {
        order.push(`terminal had ${JSON.stringify(terminal.output.join(''))}`);
        log.push(line);
      },
    });
    logging.write('{"msg":"progress"}\n');
    expect(order).toEqual([`terminal had ${JSON.stringify(CLEAR)}`]);
    expect(log).toEqual(['{"msg":"before any pass"}\n', '{"msg":"progress"}\n']);
    expect(terminal.output).toEqual([CLEAR, `${CLEAR}⠋ object-status  starting… 0.0s`]);
  });

  it('anything else written to the terminal meanwhile starts on a clean line; writes are left as they were after', () => {
    const write = terminal.write;
    bar.passStarted({ job: 'object-status', shard: undefined, dryRun: false });
    expect(terminal.write).not.toBe(write);
    terminal.write('(node) a warning\n');
    expect(terminal.output.slice(1)).toEqual([CLEAR, '(node) a warning\n']);
    // Erased once: a second write follows directly.
    terminal.write('more\n');
    expect(terminal.output.slice(3)).toEqual(['more\n']);
    tick(200);
    expect(terminal.output.at(-1)).toBe(`${CLEAR}⠙ object-status  starting… 0.2s`);
    bar.passEnded({ ...END, outcome: 'failure' });
    expect(terminal.write).toBe(write);
    expect(Object.prototype.hasOwnProperty.call(terminal, 'write')).toBe(false);
  });

  it('a pass that never ends (the run threw, the process exits): its line stays and a newline follows', () => {
    bar.passStarted({ job: 'object-status', shard: undefined, dryRun: false });
    const listeners = process.listenerCount('exit');
    bar.close();
    expect(terminal.output.at(-1)).toBe('\n');
    expect(process.listenerCount('exit')).toBe(listeners - 1);
    bar.close();
    expect(terminal.output.at(-1)).toBe('\n');
    expect(terminal.output).toHaveLength(2);
  });
});

describe('whether there is a bar', () => {
  const tty = { isTTY: true } as unknown as NodeJS.WriteStream;
  const pipe = { isTTY: false } as unknown as NodeJS.WriteStream;

  it('only on a terminal that can erase a line', () => {
    expect(terminalProgress(tty, {})).toBeInstanceOf(ProgressBar);
    expect(terminalProgress(pipe, {})).toBeUndefined();
    expect(terminalProgress(tty, { TERM: 'dumb' })).toBeUndefined();
  });

  it('NO_COLOR (when not empty) turns colours off, not the bar', () => {
    const coloured = (env: NodeJS.ProcessEnv): boolean => {
      const terminal = new FakeTerminal();
      const bar = terminalProgress(
        Object.assign(terminal, { isTTY: true }) as unknown as NodeJS.WriteStream,
        env,
      );
      bar?.passStarted({ job: 'j', shard: undefined, dryRun: false });
      bar?.close();
      return terminal.text().includes('\x1b[3');
    };
    expect(coloured({})).toBe(true);
    expect(coloured({ NO_COLOR: '' })).toBe(true);
    expect(coloured({ NO_COLOR: '1' })).toBe(false);
  });
});
