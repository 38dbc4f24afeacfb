import type pg from 'pg';
import { ConfigError } from '../config/errors.js';
import { APPLICATION_NAME } from '../config/product.js';
import { withQueryDeadline } from '../db/queryDeadline.js';
import { inReadTransaction } from '../db/transaction.js';
import { parseStateKey } from '../config/shard.js';
import { shardKeysStatement } from '../sql/statusReads.js';
import { stateSchemaExistsStatement } from '../sql/stateSchema.js';
import { readJobStatus, renderJobStatus } from '../status.js';
import { parseJobsCommand } from './args.js';

export const STATUS_USAGE = 'status --jobs PATH [--job NAME]... [--runs N] [--shard-index I --shard-count N]';

/**
 * Prints each job's recent runs, collision ratios and gap histogram. Reads only. Each query
 * has a deadline (src/db/queryDeadline.ts): a stalled network fails it, exit 1, naming the host.
 */
async function stateSchemaExists(client: pg.ClientBase): Promise<boolean> {
  return ((await client.query(stateSchemaExistsStatement())).rowCount ?? 0) > 0;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values, env, jobs } = parseJobsCommand(
    'status',
    STATUS_USAGE,
    argv,
    { runs: { type: 'string', default: '5' } },
    (v) => {
      if (!/^\d+$/.test(String(v.runs)) || Number(v.runs) < 1 || Number(v.runs) > 1000) {
        throw new ConfigError(
          `status: invalid --runs: got "${String(v.runs)}"; expected a whole number from 1 to 1000`,
        );
      }
    },
  );
  const runs = Number(values.runs);
  const blocks = await withQueryDeadline(env.database, APPLICATION_NAME.writer, 'status', (session) =>
    inReadTransaction(session, async (client) => {
      const rendered: string[] = [];
      for (const job of jobs) {
        rendered.push(renderJobStatus(await readJobStatus(client, job, runs)));
        // Without a shard given, every shard that has run, each with its own history.
        if (job.shard !== undefined || !(await stateSchemaExists(client))) continue;
        const { rows } = await client.query<{ job: string }>(shardKeysStatement(job.name));
        const shards = rows.map((r) => parseStateKey(r.job).shard).filter((s) => s !== undefined);
        for (const shard of shards) {
          rendered.push(renderJobStatus(await readJobStatus(client, { ...job, shard }, runs)));
        }
      }
      return rendered;
    }),
  );
  process.stdout.write(`${blocks.join('\n\n')}\n`);
  return 0;
}
