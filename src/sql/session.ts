import type { Statement } from './types.js';

/**
 * Makes every later transaction of the session read-only: `check` runs under it, so even a
 * bug there could not write.
 */
export function readOnlySessionStatement(): Statement {
  return { text: `SELECT set_config('default_transaction_read_only', 'on', false)`, values: [] };
}
