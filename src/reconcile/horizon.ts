import type { JobPlan } from '../db/plan.js';
import { inShortTransaction } from '../db/transaction.js';
import type { Logger } from '../log.js';
import { horizonStatement, type HorizonRow } from '../sql/horizon.js';
import type { PassConnections } from './passConnections.js';

/**
 * The settle horizon of this pass (src/sql/horizon.ts says how and why), read on the
 * scanner before its snapshot is taken (and while the writer is idle). What holds
 * it back is said in the log: the operator can act on each.
 */
export async function readHorizon(
  connections: PassConnections,
  plan: JobPlan,
  storedCheckpoint: string | undefined,
  log: Logger,
): Promise<HorizonRow> {
  // In a transaction of its own, for the job's TimeZone (local times and dates depend on it).
  const { rows } = await inShortTransaction(connections.scanner.client, plan.job, (c) =>
    c.query<HorizonRow>(horizonStatement(plan, storedCheckpoint)),
  );
  const horizon = rows[0] as HorizonRow;
  if (horizon.hiddenSessions > 0) {
    log.warn(
      { hiddenSessions: horizon.hiddenSessions },
      "other sessions' transactions are invisible in pg_stat_activity (grant pg_read_all_stats; " +
        'track_activities must be on): for those the horizon relies on settleSeconds alone',
    );
  }
  if (horizon.preparedTransactions) {
    log.warn('a prepared transaction exists: the horizon is held at the last checkpoint until it ends');
  }
  return horizon;
}
