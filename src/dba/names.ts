import { createHash } from 'node:crypto';

/** PostgreSQL's NAMEDATALEN - 1: a longer name is silently truncated by the server. */
const MAX_NAME_BYTES = 63;

/**
 * `base` + `suffix` as one catalog name of at most 63 bytes. A longer base is cut and given a
 * short hash of its full text, so two long names that share their first 50 bytes still
 * differ, and the name printed is the name the server will keep (it would truncate silently
 * otherwise, and `<table>_current` and `<table>_collapsed` could then collide).
 */
export function fitName(base: string, suffix: string): string {
  const whole = `${base}${suffix}`;
  if (Buffer.byteLength(whole) <= MAX_NAME_BYTES) return whole;
  const hash = createHash('sha1').update(base).digest('hex').slice(0, 8);
  const room = MAX_NAME_BYTES - Buffer.byteLength(suffix) - hash.length - 1;
  let cut = base;
  while (Buffer.byteLength(cut) > room) cut = cut.slice(0, -1);
  return `${cut}_${hash}${suffix}`;
}

/** A dollar-quoted string whose tag does not occur in its body (names may hold "$"). */
export function dollarQuote(body: string, tag = 'sr'): string {
  let candidate = tag;
  for (let n = 1; body.includes(`$${candidate}$`); n += 1) candidate = `${tag}${n}`;
  return `$${candidate}$${body}$${candidate}$`;
}
