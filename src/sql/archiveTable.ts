import type { QualifiedName } from '../config/job.js';
import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import type { Statement } from './types.js';

/**
 * The archive table, created on the first run that needs it: the source's columns (LIKE
 * copies names, types and NOT NULL, but no defaults, identity or keys: an archive keeps
 * the values it is given), plus when the row was archived and the id of the row it repeated.
 */
export function createArchiveTableStatement(plan: JobPlan): Statement {
  const { beforeType, afterType } = createArchiveTableText(plan.job.table, plan.job.archiveTable!);
  return { text: `${beforeType}${plan.tieBreaker.type}${afterType}`, values: [] };
}

/**
 * The text of that CREATE TABLE for an archive of `source`, around the type of repeated_id
 * (the source's tie-breaker's type): `createArchiveTableStatement` puts the type from the
 * plan between the two, and `status-reconciler sql`, which reads no catalog, the type the
 * catalog holds when its script is applied.
 */
export function createArchiveTableText(
  source: QualifiedName,
  archive: QualifiedName,
): { beforeType: string; afterType: string } {
  return {
    beforeType: `CREATE TABLE IF NOT EXISTS ${qualified(archive)} (
  LIKE ${qualified(source)},
  ${ident(ARCHIVED_AT)} timestamptz NOT NULL DEFAULT now(),
  ${ident(REPEATED_ID)} `,
    afterType: `
)`,
  };
}
