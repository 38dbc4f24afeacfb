import type { Layout } from './config.js';
import type { ChildResult } from './protocol.js';

export type Group = 'full scan' | 'real pass' | 'incremental' | 'steady state' | 'writers';

/** The one-statement peer's measurement name: ours' full passes show their time against it. */
export const PEER_DELETE = 'peer: one-statement DELETE (LAG, default plan)';

export interface Measurement {
  layout: Layout;
  group: Group;
  name: string;
  /** The measurement the ratios of this one are taken against (same layout, same run). */
  baseline: string | undefined;
  result: ChildResult;
  /** Temporary files the server wrote meanwhile (sorts spilled to disk). */
  tempBytes: number;
  /** Runs made; the one with the median wall time is kept. */
  runs: number;
  note: string | undefined;
}

const MB = 1024 * 1024;

function mb(bytes: number): string {
  return (bytes / MB).toFixed(0);
}

function seconds(s: number): string {
  return s < 10 ? s.toFixed(2) : s.toFixed(1);
}

function rate(rows: number, s: number): string {
  if (s <= 0 || rows === 0) return '-';
  const r = rows / s;
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : `${(r / 1e3).toFixed(0)}k`;
}

export function ratio(m: Measurement, base: Measurement | undefined): string {
  if (m.group === 'writers') return ''; // measured with pgbench running: see the writers' table
  if (!base || base === m) return m.baseline === undefined ? '(baseline)' : '';
  if (m.result.outcome === 'failure') return 'failed';
  const r = m.result;
  const b = base.result;
  const growth = (x: ChildResult) => Math.max(x.peakRssBytes - x.baselineRssBytes, 1);
  // A baseline whose RSS did not grow (the one-statement DELETE) makes a growth ratio meaningless.
  const growthRatio = growth(b) < MB ? '-' : `${(growth(r) / growth(b)).toFixed(1)}x`;
  return (
    `${(r.wallSeconds / b.wallSeconds).toFixed(2)}x time, ` +
    `${(r.peakRssBytes / b.peakRssBytes).toFixed(2)}x peak RSS ` +
    `(${growthRatio} growth)`
  );
}

const HEADERS = [
  'measurement',
  'outcome',
  'wall s',
  'rows/s',
  'node CPU s',
  'peak RSS MB',
  'RSS growth MB',
  'peak heap MB',
  'longest snapshot s',
  'dups found',
  'removed',
  'stmts',
  'temp MB',
  'vs baseline',
  'ours / peer DELETE',
];

function cells(m: Measurement, all: Measurement[]): string[] {
  const r = m.result;
  const base = all.find((x) => x.layout === m.layout && x.name === m.baseline);
  return [
    m.name + (m.runs > 1 ? ` (median of ${m.runs})` : ''),
    r.outcome === 'success' ? 'ok' : 'FAILED',
    seconds(r.wallSeconds),
    rate(r.rows, r.wallSeconds),
    seconds(r.cpuSeconds),
    mb(r.peakRssBytes),
    mb(r.peakRssBytes - r.baselineRssBytes),
    mb(r.peakHeapBytes),
    seconds(r.snapshotSeconds),
    String(r.duplicatesFound),
    String(r.duplicatesRemoved),
    String(r.statements),
    mb(m.tempBytes),
    ratio(m, base),
    peerRatio(m, all),
  ];
}

/** Ours' full passes (dry run, archive, delete) against the one-statement DELETE, time. */
function peerRatio(m: Measurement, all: Measurement[]): string {
  if (!m.name.startsWith('ours: full pass')) return '';
  const peer = all.find((x) => x.layout === m.layout && x.name === PEER_DELETE);
  if (!peer || peer.result.outcome !== 'success') return '';
  if (m.result.outcome !== 'success') return 'failed';
  return `${(m.result.wallSeconds / peer.result.wallSeconds).toFixed(2)}x`;
}

/** A Markdown table (readable as is in a terminal), one per layout. */
export function table(measurements: Measurement[]): string {
  const rows = [HEADERS, ...measurements.map((m) => cells(m, measurements))];
  const widths = HEADERS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (i: number) => i >= 2 && i <= 12;
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (numeric(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(HEADERS), rule, ...rows.slice(1).map(line)].join('\n');
}

export function failures(measurements: Measurement[]): string[] {
  return measurements
    .filter((m) => m.result.outcome === 'failure' || m.note !== undefined)
    .map(
      (m) =>
        `${m.layout} / ${m.name}: ${m.result.outcome === 'failure' ? (m.result.error ?? 'failed') : 'ok'}` +
        (m.note ? ` (${m.note})` : ''),
    );
}
