import type { ColumnInfo, JobPlan } from '../db/plan.js';
import { SHARD_MARK } from '../config/shard.js';
import { ident } from '../db/quote.js';

/**
 * A key column as text that no session setting changes. Our transactions fix DateStyle,
 * IntervalStyle and extra_float_digits, but a timestamptz is written in the session's
 * TimeZone, money in its lc_monetary and bytea in its bytea_output: shards whose sessions
 * differed there left objects to no shard and others to two (review of #11).
 */
function settingFree(column: ColumnInfo, expression: string): string {
  if (column.typeName === 'timestamptz') return `extract(epoch FROM ${expression})::text`;
  if (column.typeName === 'money') return `${expression}::numeric::text`;
  if (column.typeName === 'bytea') return `encode(${expression}, 'hex')`;
  return `${expression}::text`;
}

/**
 * Whether the object of row `alias` belongs to the plan's shard (src/config/shard.ts); `true`
 * without shards. The hash is of the key's text (a row of the key columns, as text): every type
 * allowed in `key` has one, composite keys included, and it is the same in every process
 * whatever its session's settings (settingFree).
 * hashtextextended is PostgreSQL's own stable 64-bit text hash (the one hash partitioning
 * uses for text); its sign bit is masked off so that the remainder is never negative.
 */
export function shardCondition(plan: JobPlan, alias: string): string {
  const shard = plan.job.shard;
  if (shard === undefined) return 'true';
  const key = `ROW(${plan.key.map((c) => settingFree(c, `${alias}.${ident(c.name)}`)).join(', ')})::text`;
  return `(hashtextextended(${key}, 0) & 9223372036854775807) % ${shard.count} = ${shard.index}`;
}

/**
 * Whether the state key in `column` is one of a shard of the job named by parameter `param`
 * (any shard, any count: src/config/shard.ts stateKey). A prefix test, not LIKE: a job name
 * may hold % or _.
 */
export function isShardStateOf(column: string, param: string): string {
  return `left(${column}, length(${param}) + ${SHARD_MARK.length}) = ${param} || '${SHARD_MARK}'`;
}
