import { invalidField } from './errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const DURATION = /^([1-9][0-9]*)([smhd])$/;

/**
 * A duration as job files write it, "24h", "30m", "3s", "7d": whole digits then one unit.
 * One unit only, so there is one way to write each value and no "1h30m" to misread.
 */
export function durationSeconds(
  source: string,
  field: string,
  value: unknown,
  limits: { minSeconds: number; maxSeconds: number },
): number {
  const expected =
    `a duration string: a whole number then s, m, h or d (such as "24h", "30m", "3s"), ` +
    `from ${limits.minSeconds}s to ${limits.maxSeconds / 86400}d`;
  const match = typeof value === 'string' ? DURATION.exec(value) : null;
  if (!match) throw invalidField(source, field, value, expected);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  if (seconds < limits.minSeconds || seconds > limits.maxSeconds)
    throw invalidField(source, field, value, expected);
  return seconds;
}
