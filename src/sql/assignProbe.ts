import type { QualifiedName } from '../config/job.js';
import { ident, qualified } from '../db/quote.js';
import type { Statement } from './types.js';

/** What fills one archive column: a column of the source table, or now() (archived_at). */
export type ArchiveValue = { column: string } | 'now';

/**
 * Asks the server whether it can assign that value to the archive column, without writing:
 * EXPLAIN only parses and plans the INSERT (parse analysis adds the assignment cast, or fails
 * with 42804 datatype_mismatch when there is none), and runs in a read-only transaction too.
 */
export function assignProbeStatement(
  archive: QualifiedName,
  column: string,
  source: QualifiedName,
  value: ArchiveValue,
): Statement {
  const expression = value === 'now' ? 'now()' : `s.${ident(value.column)}`;
  return {
    text: `EXPLAIN (COSTS OFF) INSERT INTO ${qualified(archive)} (${ident(column)})
           SELECT ${expression} FROM ${qualified(source)} s WHERE false`,
    values: [],
  };
}
