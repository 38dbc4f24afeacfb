import { jobStateKey } from '../config/job.js';
import type { Connection } from '../db/connect.js';
import type { JobPlan } from '../db/plan.js';
import { inShortTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import { readCheckpointStatement, type CheckpointRow } from '../sql/checkpoint.js';
import { stateSchemaExistsStatement } from '../sql/stateSchema.js';
import { jobDefinition } from './definition.js';

/** A stored checkpoint that still means what it meant when it was taken. */
export interface StoredCheckpoint {
  horizon: string;
  /** `fullEvery` has passed since the last completed full pass (or none is recorded). */
  fullPassDue: boolean;
}

/**
 * The job's stored checkpoint, if it still applies: taken under this job definition
 * (table, key, orderBy, compare, column type, timeZone, horizon rules) and, for local times
 * and dates, in the same session TimeZone. Else the pass is a full one, and says why.
 */
export async function readStoredCheckpoint(
  writer: Connection,
  plan: JobPlan,
  log: Logger,
): Promise<StoredCheckpoint | undefined> {
  if ((await writer.client.query(stateSchemaExistsStatement())).rowCount === 0) return undefined;
  // sameTimeZone compares with the TimeZone this transaction sets: the job's, or the server's.
  const { rows } = await inShortTransaction(writer.client, plan.job, (c) =>
    c.query<CheckpointRow>(readCheckpointStatement(jobStateKey(plan.job))),
  );
  const saved = rows[0];
  if (saved === undefined) return undefined;
  if (saved.definition !== jobDefinition(plan)) {
    log.warn(
      { checkpointDefinition: saved.definition, definition: jobDefinition(plan) },
      saved.definition === null
        ? 'the checkpoint was taken before this version of status-reconciler (older horizon rules): full pass'
        : 'the checkpoint was taken under another job definition (table, key, orderBy, compare, column type or timeZone): full pass',
    );
    return undefined;
  }
  const sameMeaning =
    saved.horizonType === plan.timeType && (plan.timeType === 'timestamptz' || saved.sameTimeZone);
  if (!sameMeaning) {
    log.warn('the checkpoint was taken with another column type or TimeZone: full pass');
    return undefined;
  }
  const fullPassDue = saved.sinceFullPass === null || saved.sinceFullPass >= plan.job.fullEverySeconds;
  return { horizon: saved.horizon, fullPassDue };
}
