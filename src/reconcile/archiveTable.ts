import type pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import { qualified } from '../db/quote.js';
import { createArchiveTableStatement } from '../sql/archiveTable.js';
import { distributionStatement } from '../sql/citus.js';
import { distributeArchiveStatement } from './citus.js';
import { isCreationRace } from './migrate.js';

/**
 * Creates the job's archive table on its first run (and on Citus distributes it alongside the
 * table: each move into it stays on the shard's worker), in one transaction under an advisory
 * lock on its name: the first runs of several shards start at the same moment, and
 * CREATE TABLE IF NOT EXISTS does not cover a creation still committing, nor would a second
 * create_distributed_table succeed (review of #11: one shard in two failed its first run).
 * The lock is the transaction's, so it holds behind PgBouncer's transaction pooling too.
 */
export async function createArchiveTable(client: pg.ClientBase, plan: JobPlan): Promise<void> {
  const archive = qualified(plan.job.archiveTable!);
  await client.query('BEGIN');
  try {
    await client.query(
      `SELECT pg_advisory_xact_lock(hashtextextended('status-reconciler archive ' || $1, 0))`,
      [archive],
    );
    await client.query(createArchiveTableStatement(plan));
    if (plan.citus !== undefined) {
      const { rowCount } = await client.query(distributionStatement(archive));
      if (rowCount === 0) await client.query(distributeArchiveStatement(plan));
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    // Created meanwhile by a runner that did not take the lock (an older version): it exists.
    if (!isCreationRace(error)) throw error;
  }
}
