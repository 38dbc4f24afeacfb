import type { PassProgressCounts, PassProgressEnd } from '../reconcile/progress.js';

/** One moment of a pass in progress, as the progress bar draws it. */
export interface RunningPass {
  /** The job's name, and its shard when it has one ("object-status (shard 1/4)"). */
  label: string;
  dryRun: boolean;
  /** Since the pass started (its lease, checkpoint and horizon come before the scan). */
  elapsedSeconds: number;
  /** Since the scan was sent; undefined: not yet. */
  scanSeconds: number | undefined;
  /** The counts of the last chunk; undefined: no rows yet (the server is still sorting). */
  counts: PassProgressCounts | undefined;
  /** The table's row estimate (a full pass); undefined: none, so no bar. */
  expectedRows: number | undefined;
  /** Which spinner frame. */
  frame: number;
}

export interface LineStyle {
  /** The line's width in columns: it is cut to fit, so that it never wraps. */
  width: number;
  /** ANSI colours (not under NO_COLOR). */
  colour: boolean;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const BAR_MIN = 10;
const BAR_MAX = 30;
const SGR = { cyan: '36', green: '32', red: '31', yellow: '33', dim: '2' } as const;

/** A run of text and its colour; a line is a list of them, cut to the width before colouring. */
interface Piece {
  text: string;
  sgr?: string;
}

/**
 * The line of a pass in progress: bar, percent, rows, duplicates, rate, time left. In the
 * long form when it fits the terminal, else the compact one (on 80 columns, say); the bar
 * takes the room left, BAR_MIN to BAR_MAX cells, and is left out below BAR_MIN.
 */
export function runningLine(pass: RunningPass, style: LineStyle): string {
  const head: Piece[] = [
    { text: `${SPINNER[pass.frame % SPINNER.length]} `, sgr: SGR.cyan },
    { text: pass.label },
  ];
  if (pass.scanSeconds === undefined) {
    return fit([...head, { text: `  starting… ${duration(pass.elapsedSeconds)}`, sgr: SGR.dim }], style);
  }
  if (pass.counts === undefined) {
    // The scan's first row waits for the server's whole sort: minutes on a large table.
    return fit([...head, { text: `  sorting… ${duration(pass.scanSeconds)}`, sgr: SGR.yellow }], style);
  }
  const { rowsExamined, duplicatesFound, duplicatesRemoved } = pass.counts;
  const expected = pass.expectedRows;
  const rate = pass.scanSeconds > 0 ? rowsExamined / pass.scanSeconds : 0;
  // Past the estimate (reltuples is an estimate) the time left is unknown, not zero.
  const left =
    expected !== undefined && rate > 0 && rowsExamined < expected
      ? (expected - rowsExamined) / rate
      : undefined;
  const eta = `${left === undefined ? '?' : duration(left)} left`;
  const rows = compact(rowsExamined);
  const estimate = expected !== undefined ? compact(expected) : undefined;
  const removed = pass.dryRun ? ' (dry run)' : `, ${compact(duplicatesRemoved)} removed`;
  // Each form with the gap it leaves between its parts: the compact one fits 80 columns with a bar.
  const forms = [
    {
      gap: '  ',
      tail: `${rows}${estimate ? `/~${estimate}` : ''} rows · ${compact(duplicatesFound)} dups${removed} · ${compact(rate)} rows/s · ${eta}`,
    },
    {
      gap: ' ',
      tail: `${rows}${estimate ? `/${estimate}` : ''} rows ${compact(duplicatesFound)} dups ${compact(rate)}/s ${eta}`,
    },
  ];
  if (expected === undefined) {
    return choose(
      forms.map(({ gap, tail }) => [...head, { text: `${gap}${tail}` }]),
      style,
    );
  }
  const fraction = Math.min(1, rowsExamined / expected);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  for (const { gap, tail } of forms) {
    const rest = width([...head, { text: ` [] ${percent}${gap}${tail}` }]);
    const cells = Math.min(BAR_MAX, style.width - 1 - rest);
    if (cells < BAR_MIN) continue;
    const filled = Math.round(fraction * cells);
    return fit(
      [
        ...head,
        { text: ' [' },
        { text: '█'.repeat(filled), sgr: SGR.cyan },
        { text: '░'.repeat(cells - filled), sgr: SGR.dim },
        { text: `] ${percent}${gap}${tail}` },
      ],
      style,
    );
  }
  return choose(
    forms.map(({ gap, tail }) => [...head, { text: ` ${percent}${gap}${tail}` }]),
    style,
  );
}

/** The line a pass leaves behind: how it ended, its counts in full, how long it took (and the rate, when it fits). */
export function endLine(label: string, end: PassProgressEnd, style: LineStyle): string {
  const mark =
    end.outcome === 'success'
      ? { text: '✓ ', sgr: SGR.green }
      : end.outcome === 'failure'
        ? { text: '✗ ', sgr: SGR.red }
        : { text: '- ', sgr: SGR.yellow };
  if (end.outcome === 'skipped') {
    return fit([mark, { text: `${label}  skipped${end.reason ? `: ${end.reason}` : ''}` }], style);
  }
  const rate = end.durationSeconds > 0 ? end.rowsExamined / end.durationSeconds : 0;
  const duplicates = end.dryRun
    ? `${whole(end.duplicatesFound)} dups (dry run: nothing removed)`
    : `${whole(end.duplicatesFound)} dups, ${whole(end.duplicatesRemoved)} removed`;
  const reason = end.reason ? ` · ${end.reason}` : '';
  const counts = `${end.outcome === 'failure' ? ' failed' : ''}  ${whole(end.rowsExamined)} rows · ${duplicates}`;
  return choose(
    [
      [
        mark,
        { text: `${label}${counts} · ${duration(end.durationSeconds)} (${compact(rate)} rows/s)${reason}` },
      ],
      [mark, { text: `${label}${counts} · ${duration(end.durationSeconds)}${reason}` }],
    ],
    style,
  );
}

/** Seconds as a person reads them: 0.4s, 42s, 3m05s, 2h07m. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${(Math.floor(seconds * 10) / 10).toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

/** A count in at most four figures: 950, 9,500, 95.0k, 950k, 9.50M. */
export function compact(n: number): string {
  const value = Math.round(n);
  if (value < 10_000) return whole(value);
  for (const [size, unit] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (value >= size) {
      const scaled = value / size;
      const digits = scaled >= 100 ? 0 : scaled >= 10 ? 1 : 2;
      return `${(Math.floor(scaled * 10 ** digits) / 10 ** digits).toFixed(digits)}${unit}`;
    }
  }
  return whole(value);
}

function whole(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function width(pieces: Piece[]): number {
  return pieces.reduce((n, piece) => n + [...piece.text].length, 0);
}

/** The first of the lines that fits the width; else the last, cut (fit). */
function choose(lines: Piece[][], style: LineStyle): string {
  return fit(lines.find((line) => width(line) <= style.width - 1) ?? lines[lines.length - 1]!, style);
}

/**
 * The pieces, cut to `width - 1` columns (a line that reaches the last column wraps on some
 * terminals, and a wrapped line is not erased by the next redraw), then coloured.
 */
function fit(pieces: Piece[], style: LineStyle): string {
  let room = Math.max(1, style.width - 1);
  let line = '';
  for (const piece of pieces) {
    const chars = [...piece.text];
    const cut = chars.length > room;
    const text = cut ? `${chars.slice(0, Math.max(0, room - 1)).join('')}…` : piece.text;
    line += style.colour && piece.sgr && text ? `\x1b[${piece.sgr}m${text}\x1b[0m` : text;
    room -= chars.length;
    if (cut || room <= 0) break;
  }
  return line;
}
