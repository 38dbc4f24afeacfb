import type pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { indexFindings, readTableIndexes } from './indexes.js';

/*
 * Without a btree on key + orderBy every re-verification is a sequential scan, and a batch
 * on a million-row table outlives statement_timeout (measured: BENCHMARKS.md, F1); without
 * one on the first orderBy column an incremental pass reads the whole table. A warning, not
 * a refusal: small tables do fine without, and `check` prints the same fix.
 */
export function warnMissingIndexes(logger: Logger): (client: pg.ClientBase, plan: JobPlan) => Promise<void> {
  return async (client, plan) => {
    const findings = indexFindings(plan, await readTableIndexes(client, plan));
    for (const finding of findings.filter((f) => f.level === 'fail')) {
      logger.warn({ job: plan.job.name, fix: finding.fix.join('\n') }, finding.message);
    }
  };
}
