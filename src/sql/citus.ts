import pg from 'pg';
import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { sameRow, type DuplicateRef } from './batchRows.js';
import type { Statement } from './types.js';

/*
 * Citus (distributed PostgreSQL). A table distributed by a column of the job's key keeps each
 * object's whole history in one shard, on one worker. The reconciler's statements then run as
 * they do on PostgreSQL, one shard at a time: a batch is split by shard, and every reference to
 * the table in its statements carries `<distribution column> = ANY (<the batch's values>)`, which
 * lets Citus prune each reference to that one shard and send the whole statement to its worker
 * as it is (a router query: measured on Citus 13.2, the removing statement with its FOR UPDATE
 * SKIP LOCKED, FOR SHARE and ctid runs there as one task). A statement over several shards is
 * a different matter: Citus plans it in steps and refuses FOR SHARE and ctid there.
 */

/** Whether the citus extension is installed in this database. */
export function citusInstalledStatement(): Statement {
  return { text: `SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'`, values: [] };
}

/**
 * How Citus holds the table: `method` h (distributed by hash), n (reference table), none
 * (a local table: no row); `column` the distribution column.
 */
export function distributionStatement(table: string): Statement {
  return {
    text: `SELECT p.partmethod::text AS method,
                  CASE WHEN p.partkey IS NOT NULL THEN column_to_column_name(p.logicalrelid, p.partkey) END AS "column",
                  p.colocationid AS colocation
             FROM pg_dist_partition p WHERE p.logicalrelid = $1::regclass`,
    values: [table],
  };
}

/** The shard of each duplicate (by its value of the distribution column), in the batch's order. */
export function shardsStatement(plan: JobPlan, batch: readonly DuplicateRef[]): Statement {
  const citus = plan.citus!;
  return {
    text: `SELECT get_shard_id_for_distribution_column($1::regclass, u.v)::text AS shard
             FROM unnest($2::${citus.column.type}[]) WITH ORDINALITY AS u(v, i) ORDER BY u.i`,
    values: [qualified(plan.job.table), batch.map((d) => d.key[citus.keyIndex])],
  };
}

/** A text[] literal of the values (for ANY): each element double-quoted, \ and " escaped. */
function arrayLiteral(values: readonly string[]): string {
  const elements = values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  return `'{${elements.join(',').replace(/'/g, "''")}}'`;
}

/**
 * ` AND <alias>.<distribution column> = ANY ('{...}'::type[])` for the batch's values, or ''
 * off Citus. A literal, not a parameter: Citus prunes shards by constants when it plans.
 */
export function routeCondition(plan: JobPlan, alias: string, batch: readonly DuplicateRef[]): string {
  const citus = plan.citus;
  if (citus === undefined) return '';
  const values = [...new Set(batch.map((d) => d.key[citus.keyIndex] as string))];
  return ` AND ${alias}.${ident(citus.column.name)} = ANY (${arrayLiteral(values)}::${citus.column.type}[])`;
}

/**
 * Archive mode on Citus, after the statement that locked and judged the batch's duplicates
 * (collapseStatement, judgeOnly): moves those into the archive, found by their key and orderBy
 * values (ctid cannot be used here, see collapseStatement), in one statement on the shard's
 * worker. Nothing can change them in between: the batch holds them FOR UPDATE, and their
 * predecessors FOR SHARE, until it commits.
 */
export function moveStatement(
  plan: JobPlan,
  doomed: readonly DuplicateRef[],
  repeated: readonly string[],
): Statement {
  const t = qualified(plan.job.table);
  const names = [...plan.key.map((_, i) => `k${i}`), ...plan.orderBy.map((_, i) => `o${i}`)];
  const arrays = [...plan.key, ...plan.orderBy].map((c, i) => `$${i + 1}::${c.type}[]`);
  arrays.push(`$${arrays.length + 1}::${plan.tieBreaker.type}[]`);
  const columns = plan.columns.map((c) => ident(c.name));
  return {
    text: `
WITH gone AS (
  DELETE FROM ${t} t USING unnest(${arrays.join(', ')}) AS d(${names.join(', ')}, repeated)
   WHERE ${sameRow(plan, 'd')}${routeCondition(plan, 't', doomed)}
  RETURNING ${columns.map((c) => `t.${c}`).join(', ')}, d.repeated
), moved AS (
  INSERT INTO ${qualified(plan.job.archiveTable!)} (${columns.join(', ')}, ${ident(ARCHIVED_AT)}, ${ident(REPEATED_ID)})
  SELECT ${columns.join(', ')}, now(), repeated FROM gone
)
SELECT (SELECT count(*) FROM gone)::int4 AS removed`,
    values: [
      ...plan.key.map((_, i) => doomed.map((d) => d.key[i])),
      ...plan.orderBy.map((_, i) => doomed.map((d) => d.orderBy[i])),
      repeated,
    ],
  };
}

/**
 * The batch's settings again as SET LOCAL, which Citus sends on to the workers (set_config,
 * as every transaction of ours sets them, stays on the coordinator, and Citus passes on no SET
 * unless citus.propagate_set_commands says so): without them a row lock on a worker made the
 * batch wait out statement_timeout instead of lock_timeout, and the run failed where it should
 * have halved the batch and gone on (review of #11).
 */
export function workerSettingsStatements(settings: readonly [string, string][]): string[] {
  return [
    `SET LOCAL citus.propagate_set_commands TO 'local'`,
    ...settings
      .filter(([name]) => name !== 'transaction_timeout')
      .map(([name, value]) => `SET LOCAL ${ident(name)} TO ${pg.escapeLiteral(value)}`),
  ];
}
