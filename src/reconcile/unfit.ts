import { ConfigError } from '../config/errors.js';
import type { Job } from '../config/job.js';

/**
 * Something in the database that keeps a job from running as configured, found before
 * anything changes: what is wrong and the fix, one statement or `--` comment a line.
 * `refuse`: `run` stops with a ConfigError (exit 2) and `check` prints it as ✗; `warn`:
 * the run works, and `check` prints it as !. Both say it with the same text.
 */
export interface Unfit {
  level: 'refuse' | 'warn';
  message: string;
  fix: string[];
}

export function refuse(message: string, fix: string[]): Unfit {
  return { level: 'refuse', message, fix };
}

export function caution(message: string, fix: string[]): Unfit {
  return { level: 'warn', message, fix };
}

/** Each refusal as `check` prints it, under the job's source: the message, then its fix lines. */
export function unfitError(job: Job, problems: readonly Unfit[]): ConfigError {
  const text = problems
    .filter((p) => p.level === 'refuse')
    .map((p) => [`${job.source}: ${p.message}`, ...p.fix.map((line) => `    ${line}`)].join('\n'))
    .join('\n');
  return new ConfigError(text);
}
