import type { JobPlan } from '../db/plan.js';
import { ident } from '../db/quote.js';

/**
 * Whether the object of row `alias` belongs to the plan's shard (src/config/shard.ts); `true`
 * without shards. The hash is of the key's text (a row of the key columns, as text): every type
 * allowed in `key` has one, composite keys included, and it is the same in every process,
 * since every transaction of ours sets the same output formats (src/db/transaction.ts).
 * hashtextextended is PostgreSQL's own stable 64-bit text hash (the one hash partitioning
 * uses for text); its sign bit is masked off so that the remainder is never negative.
 */
export function shardCondition(plan: JobPlan, alias: string): string {
  const shard = plan.job.shard;
  if (shard === undefined) return 'true';
  const key = `ROW(${plan.key.map((c) => `${alias}.${ident(c.name)}`).join(', ')})::text`;
  return `(hashtextextended(${key}, 0) & 9223372036854775807) % ${shard.count} = ${shard.index}`;
}
