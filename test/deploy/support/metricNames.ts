import { buildRegistry } from '../../../src/metrics/registry.js';
import { emptyJobMetrics } from '../../../src/metrics/snapshot.js';

/**
 * Every series name the reconciler exposes, read from its real registry: the exposition of one
 * job whose optional gauges are all set (an empty job has no last run, so those gauges would
 * print no sample), which includes the histogram's _bucket, _sum and _count series.
 */
export async function exposedMetricNames(): Promise<Set<string>> {
  const job = {
    ...emptyJobMetrics('example'),
    lastSuccessSeconds: 1,
    lastRun: {
      collisionRatio: 0,
      durationSeconds: 1,
      horizonLagSeconds: 30,
      referencedKept: 0,
      lockedSkipped: 0,
    },
  };
  const text = await buildRegistry([job]).metrics();
  const names = new Set<string>();
  const declared = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type?.[1]) declared.add(type[1]);
    else if (line && !line.startsWith('#')) names.add(line.split(/[{ ]/)[0] ?? '');
  }
  for (const name of declared) {
    const hasSample = [...names].some((n) => n === name || n.startsWith(`${name}_`));
    if (!hasSample) throw new Error(`metric ${name} printed no sample: set it in exposedMetricNames()`);
  }
  return names;
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads: what is left once strings, label matchers, ranges,
 * grouping clauses, function names and keywords are taken out. Grafana's $variables are
 * dropped. Good enough for the expressions of this repository, not a PromQL parser.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const rest = stripped.slice((match.index ?? 0) + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (/^\d/.test(word)) continue;
    // Durations and numbers such as 1h or 1e3 are not identifiers; the regexp starts at a letter,
    // so only unit letters glued to a number can appear: skip those.
    const before = stripped.slice(0, match.index ?? 0);
    if (/[0-9.]$/.test(before)) continue;
    names.push(word);
  }
  return names;
}
