/**
 * One line of `check`: ok (✓), a problem that makes the job not ready (✗), or a warning
 * (!) that leaves it ready. `fix` holds what to run, one statement or `--` comment a line,
 * so a DBA can paste the lines as they are.
 */
import type { Unfit } from '../reconcile/unfit.js';

export type Level = 'ok' | 'fail' | 'warn';

export interface Finding {
  level: Level;
  message: string;
  fix: string[];
}

export function ok(message: string): Finding {
  return { level: 'ok', message, fix: [] };
}

export function fail(message: string, fix: string[] = []): Finding {
  return { level: 'fail', message, fix };
}

export function warn(message: string, fix: string[] = []): Finding {
  return { level: 'warn', message, fix };
}

/** What `run` refuses (its ConfigError) or would do with a caution, as `check` prints it: same text. */
export function unfitFinding(unfit: Unfit): Finding {
  return { level: unfit.level === 'refuse' ? 'fail' : 'warn', message: unfit.message, fix: [...unfit.fix] };
}

const MARK: Record<Level, string> = { ok: '✓', fail: '✗', warn: '!' };

export function renderFinding(finding: Finding): string {
  const lines = [`  ${MARK[finding.level]} ${finding.message}`];
  for (const line of finding.fix) lines.push(`      ${line}`);
  return lines.join('\n');
}

export function isReady(findings: readonly Finding[]): boolean {
  return findings.every((f) => f.level !== 'fail');
}
