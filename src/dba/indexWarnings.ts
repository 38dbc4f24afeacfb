import type pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { deferrableCautions, readReferences } from '../reconcile/references.js';
import { indexFindings, readTableIndexes } from './indexes.js';

/*
 * Without a btree on key + orderBy every re-verification is a sequential scan, and a batch
 * on a million-row table outlives statement_timeout (measured: BENCHMARKS.md, F1); without
 * one on the first orderBy column an incremental pass reads the whole table. A warning, not
 * a refusal: small tables do fine without, and `check` prints the same fix. Logged here too,
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
