import type pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { deferrableCautions, readReferences } from '../reconcile/references.js';
import { indexFindings, readTableIndexes } from './indexes.js';

/*
 * What `check` calls not ready among the indexes (today: none on the first orderBy column,
 * so an incremental pass reads the whole table), as a warning at the start of every run, not
 * a refusal: small tables do fine without, and `check` prints the same fix. (Without the
 * btree on key + orderBy runs work, each batch reading the table once: `check` advises it.)
 * Logged here too,
 * at the start of every run: each DEFERRABLE foreign key that references the history table
 * (src/reconcile/references.ts, deferrableCautions), whose deferred references no batch can see.
 */
export function warnMissingIndexes(logger: Logger): (client: pg.ClientBase, plan: JobPlan) => Promise<void> {
  return async (client, plan) => {
    const findings = indexFindings(plan, await readTableIndexes(client, plan));
    for (const finding of findings.filter((f) => f.level === 'fail')) {
      logger.warn({ job: plan.job.name, fix: finding.fix.join('\n') }, finding.message);
    }
    for (const unfit of deferrableCautions(await readReferences(client, plan))) {
      logger.warn({ job: plan.job.name, fix: unfit.fix.join('\n') }, unfit.message);
    }
  };
}
