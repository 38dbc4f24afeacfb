import { formatName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';

/**
 * What a checkpoint means, spelt as text and stored beside it: the horizon of a completed
 * pass is a promise about one table, ordered one way, compared one way, with times of one
 * type in one zone. Under another definition the promise says nothing (compare narrowed:
 * rows the old passes kept are duplicates now), so the pass is full. `rules` versions the
 * horizon's own rules: checkpoints of older rules (none stored, or another number) are not
 * trusted either (before 2, local times and dates could be ahead of their horizon).
 */
export function jobDefinition(plan: JobPlan): string {
  const job = plan.job;
  return JSON.stringify({
    rules: 2,
    table: formatName(job.table),
    key: job.key,
    orderBy: job.orderBy,
    compare: job.compare,
    timeType: plan.time.type,
    timeZone: job.timeZone ?? null,
  });
}
