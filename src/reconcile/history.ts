import type pg from 'pg';
import { ConfigError } from '../config/errors.js';
import { formatName } from '../config/job.js';
import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { inReadTransaction } from '../db/transaction.js';
import { historyStatement, type HistoryRowText } from '../sql/history.js';
import type { ArchiveFilter } from './archiveFilter.js';
import { readArchiveColumns } from './archiveTableColumns.js';

export type { HistoryRowText };

/** Where the archived rows came from: read, or why there are none to read. */
export type ArchiveSource = 'archive' | 'delete mode' | 'no archive yet';

export interface ObjectHistory {
  plan: JobPlan;
  rows: HistoryRowText[];
  source: ArchiveSource;
}

/**
 * One object's history as the job sees it, kept rows and archived ones in orderBy order,
 * read in one read-only snapshot (a run committing meanwhile moves a row from one table to
 * the other: read apart, it could show twice or not at all). In delete mode, or before the
 * first run created the archive table, only the kept rows.
 */
export async function readObjectHistory(
  client: pg.ClientBase,
  plan: JobPlan,
  filter: ArchiveFilter,
): Promise<ObjectHistory> {
  const job = plan.job;
  return inReadTransaction(
    client,
    async (c) => {
      const archiveColumns = await readArchiveColumns(c, plan);
      if (archiveColumns !== undefined) {
        const needed = [...plan.key, ...plan.orderBy].map((col) => col.name);
        const lacking = [...needed, ARCHIVED_AT, REPEATED_ID].filter(
          (name) => !archiveColumns.includes(name),
        );
        if (lacking.length > 0) {
          throw new ConfigError(
            `history: job "${job.name}": the archive table ${formatName(job.archiveTable!)} lacks column(s) ` +
              `${lacking.map((n) => `"${n}"`).join(', ')}; expected the key and orderBy columns of the job, ` +
              `"${ARCHIVED_AT}" and "${REPEATED_ID}" (\`status-reconciler check\` says what the archive needs)`,
          );
        }
      }
      const { rows } = await c.query<HistoryRowText>(historyStatement(plan, filter, archiveColumns));
      const source: ArchiveSource =
        job.mode === 'delete' ? 'delete mode' : archiveColumns === undefined ? 'no archive yet' : 'archive';
      return { plan, rows, source };
    },
    job.timeZone,
  );
}
