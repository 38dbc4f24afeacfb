import { formatName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';

/**
 * What a checkpoint means, spelt as text and stored beside it: the horizon of a completed
 * pass is a promise about one table, ordered one way, compared one way, with times of one
 * type in one zone. Under another definition the promise says nothing (compare narrowed:
 * rows the old passes kept are duplicates now), so the pass is full. `rules` versions the
 * horizon's own rules: checkpoints of older rules (none stored, or another number) are not
 * trusted either (before 2, local times and dates could be ahead of their horizon; 3
 * widened the date rule from UTC-12 to UTC-14).
 */
export function jobDefinition(plan: JobPlan): string {
  const job = plan.job;
  return JSON.stringify({
    rules: 3,
    table: formatName(job.table),
    // Names with their exact types: a type change can make rows equal that were not
    // (numeric 1.1 and 1.2 cast to integer), which only a full pass would find.
    key: plan.key.map((c) => `${c.name} ${c.type}`),
    orderBy: plan.orderBy.map((c) => `${c.name} ${c.type}`),
    compare: plan.compare.map((c) => `${c.name} ${c.type}`),
    timeType: plan.time.type,
    timeZone: job.timeZone ?? null,
  });
}
