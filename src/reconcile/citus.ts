import type pg from 'pg';
import { formatName, type Job } from '../config/job.js';
import type { ColumnInfo, JobPlan } from '../db/plan.js';
import { qualified } from '../db/quote.js';
import { citusInstalledStatement, distributionStatement } from '../sql/citus.js';
import { refuse, type Unfit } from './unfit.js';

/*
 * Citus, found from the catalog (src/sql/citus.ts): no setting. A table Citus distributes by a
 * column of the job's key is reconciled shard by shard; one it distributes otherwise, or a
 * reference table, is refused (citusProblems).
 */

interface Distribution {
  method: string;
  column: string | null;
  colocation: number;
}

async function distributionOf(client: pg.ClientBase, table: string): Promise<Distribution | undefined> {
  if ((await client.query(citusInstalledStatement())).rowCount === 0) return undefined;
  const { rows } = await client.query<Distribution>(distributionStatement(table));
  return rows[0];
}

/**
 * JobPlan.citus: the distribution column and its place in `key`, for a table distributed by
 * hash on a key column; undefined otherwise.
 */
export async function readCitus(
  client: pg.ClientBase,
  job: Job,
  key: readonly ColumnInfo[],
): Promise<JobPlan['citus']> {
  const distribution = await distributionOf(client, qualified(job.table));
  if (distribution?.method !== 'h' || distribution.column === null) return undefined;
  const keyIndex = key.findIndex((c) => c.name === distribution.column);
  // Not in the key: none, and citusProblems refuses the job.
  return keyIndex < 0 ? undefined : { column: key[keyIndex] as ColumnInfo, keyIndex };
}

/**
 * What Citus makes unfit: a table distributed by a column outside the key (one object's rows
 * would lie in several shards, and no statement could see its history whole), a reference
 * table or a distributed one not by hash, an archive table that is not distributed alongside
 * the table (the move into it must stay on the shard's worker), and foreign keys that
 * reference the table (their check would read other tables from the shard's statement).
 */
export async function citusProblems(
  client: pg.ClientBase,
  plan: JobPlan,
  references: number,
): Promise<Unfit[]> {
  const table = formatName(plan.job.table);
  const distribution = await distributionOf(client, qualified(plan.job.table));
  if (distribution === undefined) return [];
  if (distribution.method !== 'h') {
    return [
      refuse(
        `${table} is a Citus ${distribution.method === 'n' ? 'reference' : 'non-hash distributed'} table: ` +
          'not supported; the reconciler needs it distributed by hash on a column of the job\'s "key"',
        [
          `-- e.g. SELECT undistribute_table('${table}'); SELECT create_distributed_table('${table}', '<a key column>');`,
        ],
      ),
    ];
  }
  const problems: Unfit[] = [];
  if (plan.citus === undefined) {
    problems.push(
      refuse(
        `${table} is distributed by Citus on "${distribution.column ?? '?'}", which is not in the job's "key" ` +
          `(${plan.key.map((c) => c.name).join(', ')}): one object's rows may lie in several shards`,
        [`-- add "${distribution.column ?? '?'}" to "key", or distribute the table by a key column`],
      ),
    );
  }
  if (references > 0) {
    problems.push(
      refuse(`${table}: foreign keys reference this Citus table: not supported yet on Citus`, [
        '-- drop the foreign keys that reference it, or reconcile it without Citus',
      ]),
    );
  }
  if (plan.job.mode === 'archive' && plan.archiveExists) {
    const archive = await distributionOf(client, qualified(plan.job.archiveTable!));
    if (archive?.method !== 'h' || archive.colocation !== distribution.colocation) {
      const name = formatName(plan.job.archiveTable!);
      problems.push(
        refuse(
          `${name}: the archive table of a Citus table must be distributed alongside it (co-located), so that ` +
            'each move into it stays on one worker',
          [
            `SELECT create_distributed_table('${name}', '${distribution.column ?? '?'}', colocate_with => '${table}');`,
          ],
        ),
      );
    }
  }
  return problems;
}

/** After creating the archive table of a Citus table: distribute it alongside the table. */
export function distributeArchiveStatement(plan: JobPlan): { text: string; values: unknown[] } {
  return {
    text: `SELECT create_distributed_table($1, $2, colocate_with => $3)`,
    values: [qualified(plan.job.archiveTable!), plan.citus!.column.name, qualified(plan.job.table)],
  };
}
