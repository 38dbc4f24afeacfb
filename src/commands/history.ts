import { formatName } from '../config/job.js';
import { APPLICATION_NAME, PRODUCT } from '../config/product.js';
import { withQueryDeadline } from '../db/queryDeadline.js';
import { checkKeyCount, readFilter } from '../reconcile/archiveFilter.js';
import { readObjectHistory } from '../reconcile/history.js';
import { readPlan } from '../reconcile/planJob.js';
import { parseJobsCommand, requireOneJob } from './args.js';
import { renderHistoryJson, renderHistoryTable } from './historyOutput.js';

export const HISTORY_USAGE = 'history --jobs PATH --job NAME --key VALUE [--key VALUE]... [--json]';

/**
 * One object's rows, kept and archived, in order: what the reconciler did to that object.
 * Reads only, in one read-only snapshot; each query has a deadline (src/db/queryDeadline.ts)
 * as `status` and `check` have.
 */
export async function historyCommand(argv: string[]): Promise<number> {
  const { values, only, env, jobs } = parseJobsCommand('history', HISTORY_USAGE, argv, {
    key: { type: 'string', multiple: true },
    json: { type: 'boolean', default: false },
  });
  const job = requireOneJob('history', HISTORY_USAGE, only, jobs);
  const key = values.key ?? [];
  checkKeyCount('history', job, key, true);
  const history = await withQueryDeadline(
    env.database,
    APPLICATION_NAME.history,
    'history',
    async (client) => {
      const plan = await readPlan(client, job);
      const filter = await readFilter(client, 'history', plan, { key, since: undefined, until: undefined });
      return readObjectHistory(client, plan, filter);
    },
  );
  if (history.source === 'delete mode') {
    process.stderr.write(
      `${PRODUCT}: history: job "${job.name}" is in delete mode: its duplicates were deleted, not archived, ` +
        'so only the kept rows are shown (all marked kept)\n',
    );
  } else if (history.source === 'no archive yet') {
    process.stderr.write(
      `${PRODUCT}: history: the archive table ${formatName(job.archiveTable!)} of job "${job.name}" does not ` +
        'exist yet (no run has archived anything): only the kept rows are shown\n',
    );
  }
  process.stdout.write(values.json ? renderHistoryJson(history) : renderHistoryTable(history, key));
  return 0;
}
