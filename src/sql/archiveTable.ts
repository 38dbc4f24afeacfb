import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import type { Statement } from './types.js';

/**
 * The archive table, created on the first run that needs it: the source's columns (LIKE
 * copies names, types and NOT NULL, but no defaults, identity or keys: an archive keeps
 * the values it is given), plus when the row was archived and the id of the row it repeated.
 */
export function createArchiveTableStatement(plan: JobPlan): Statement {
  const lastOrder = plan.orderBy[plan.orderBy.length - 1]!;
  return {
    text: `CREATE TABLE IF NOT EXISTS ${qualified(plan.job.archiveTable!)} (
  LIKE ${qualified(plan.job.table)},
  ${ident(ARCHIVED_AT)} timestamptz NOT NULL DEFAULT now(),
  ${ident(REPEATED_ID)} ${lastOrder.type}
)`,
    values: [],
  };
}
