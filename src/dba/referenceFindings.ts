import type pg from 'pg';
import { formatName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import {
  deferrableCautions,
  describeReference,
  readReferences,
  referenceProblems,
} from '../reconcile/references.js';
import { ok, unfitFinding, warn, type Finding } from './finding.js';

/**
 * The foreign keys that reference the history table, named, with what the reconciler does
 * about them: a duplicate some row references is kept (never deleted, so no ON DELETE action
 * reaches the referencing table). Not ready (✗) when the role cannot read a referencing
 * table whole: it could not tell which duplicates are referenced. A warning per referencing
 * table without an index on its columns: every batch looks them up. A warning per DEFERRABLE
 * one: a deferred reference is invisible until the application commits (deferrableCautions).
 */
export async function referenceFindings(client: pg.ClientBase, plan: JobPlan): Promise<Finding[]> {
  const table = formatName(plan.job.table);
  const refs = await readReferences(client, plan);
  if (refs.length === 0) {
    return [ok(`no foreign key references ${table}: duplicates are removed without looking at other tables`)];
  }
  const findings: Finding[] = [
    warn(
      `${table} is referenced by ${refs.length} foreign key(s): ${refs.map(describeReference).join('; ')}. ` +
        'A duplicate that a row there references is kept, never deleted, whatever the ON DELETE action ' +
        '(the reconciler never cascades into other tables): each run counts them (referencedKept) and names ' +
        'a few in a warning, and a later full pass removes them once nothing references them. While a batch ' +
        'holds a duplicate locked, an insert that references it waits for the batch, then fails with a ' +
        'foreign key violation once the duplicate is gone',
    ),
  ];
  for (const ref of refs.filter((r) => !r.indexed)) {
    findings.push(
      warn(
        `no index on ${formatName(ref.child)} leads with (${ref.childColumns.join(', ')}), the columns of foreign ` +
          `key "${ref.constraint}": every batch looks up the rows referencing each duplicate, and each lookup ` +
          'reads the whole table',
        [`CREATE INDEX CONCURRENTLY ON ${qualified(ref.child)} (${ref.childColumns.map(ident).join(', ')});`],
      ),
    );
  }
  findings.push(...deferrableCautions(refs).map(unfitFinding));
  findings.push(...referenceProblems(refs).map(unfitFinding));
  return findings;
}
