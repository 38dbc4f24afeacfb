import type { Connection } from '../db/connect.js';
import type { JobPlan } from '../db/plan.js';
import type { Logger } from '../log.js';
import { readCheckpointStatement, type CheckpointRow } from '../sql/checkpoint.js';
import { stateSchemaExistsStatement } from '../sql/stateSchema.js';

/**
 * The job's stored checkpoint, if it still means what it meant when it was taken: the
 * same column type and, for local times and dates, the same TimeZone. Else the pass is a
 * full one, and says so.
 */
export async function readStoredCheckpoint(
  writer: Connection,
  plan: JobPlan,
  log: Logger,
): Promise<string | undefined> {
  if ((await writer.client.query(stateSchemaExistsStatement())).rowCount === 0) return undefined;
  const { rows } = await writer.client.query<CheckpointRow>(readCheckpointStatement(plan.job.name));
  const saved = rows[0];
  if (saved === undefined) return undefined;
  const sameMeaning =
    saved.horizonType === plan.timeType && (plan.timeType === 'timestamptz' || saved.sameTimeZone);
  if (sameMeaning) return saved.horizon;
  log.warn('the checkpoint was taken with another column type or TimeZone: full pass');
  return undefined;
}
