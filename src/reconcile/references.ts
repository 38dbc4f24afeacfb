import type pg from 'pg';
import { formatName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { referencingConstraintsStatement, type Reference, type ReferenceRow } from '../sql/references.js';
import { caution, refuse, type Unfit } from './unfit.js';

export type { Reference } from '../sql/references.js';

const ON_DELETE: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

/** Operator names are made of these characters only (CREATE OPERATOR); anything else is refused. */
const OPERATOR_NAME = /^[+\-*/<>=~!@#%^&|`?]+$/;

function reference(row: ReferenceRow): Reference {
  const operators = row.operatorNames.map((name, i) => {
    if (!OPERATOR_NAME.test(name)) throw new Error(`unexpected operator name ${JSON.stringify(name)}`);
    return `OPERATOR(${ident(row.operatorSchemas[i] as string)}.${name})`;
  });
  return {
    constraint: row.constraint,
    child: { schema: row.childSchema, name: row.childTable },
    childColumns: row.childColumns,
    parentColumns: row.parentColumns,
    operators,
    onDelete: row.onDelete,
    deferrable: row.deferrable,
    selfReference: row.selfReference,
    role: row.role,
    canRead: row.canRead,
    rowSecurity: row.rowSecurity,
    indexed: row.indexed,
  };
}

/**
 * The foreign keys that reference the history table now. Read in every batch's transaction
 * once it holds the table's ROW EXCLUSIVE lock: a constraint added since (ALTER TABLE ... ADD
 * FOREIGN KEY takes SHARE ROW EXCLUSIVE on the referenced table) is then committed and seen,
 * or waits for the batch to end.
 */
export async function readReferences(client: pg.ClientBase, plan: JobPlan): Promise<Reference[]> {
  const { rows } = await client.query<ReferenceRow>(referencingConstraintsStatement(plan));
  return rows.map(reference);
}

/** `"fk" on public.child (parent_id) ON DELETE CASCADE`. */
export function describeReference(ref: Reference): string {
  return (
    `"${ref.constraint}" on ${formatName(ref.child)} (${ref.childColumns.join(', ')}) ` +
    `ON DELETE ${ON_DELETE[ref.onDelete] ?? ref.onDelete}`
  );
}

/**
 * A referencing table the role cannot fully read: the check for children would miss some,
 * and a referenced duplicate would go (taking its children with it under CASCADE). Refused,
 * by `check` (✗) and by every batch (the run fails before it removes anything).
 */
export function referenceProblems(refs: readonly Reference[]): Unfit[] {
  const problems: Unfit[] = [];
  for (const ref of refs) {
    const role = ref.role;
    const what = `foreign key ${describeReference(ref)} references the history table`;
    if (!ref.canRead) {
      problems.push(
        refuse(
          `${what}, and role "${role}" cannot read ${formatName(ref.child)} (${ref.childColumns.join(', ')}): ` +
            'the reconciler keeps every duplicate a row there references, so it must see them all',
          [
            `GRANT USAGE ON SCHEMA ${ident(ref.child.schema)} TO ${ident(role)};`,
            `GRANT SELECT (${ref.childColumns.map(ident).join(', ')}) ON TABLE ${qualified(ref.child)} TO ${ident(role)};`,
          ],
        ),
      );
    }
    if (ref.rowSecurity) {
      problems.push(
        refuse(
          `${what}, and row-level security is active on ${formatName(ref.child)} for role "${role}": ` +
            'its policies may hide rows that reference a duplicate, which would then be removed ' +
            `${ref.onDelete === 'c' ? '(and, ON DELETE CASCADE, those rows with it)' : ''}`.trimEnd(),
          [`ALTER ROLE ${ident(role)} BYPASSRLS;`],
        ),
      );
    }
  }
  return problems;
}

/**
 * A DEFERRABLE foreign key: a transaction that defers it (INITIALLY DEFERRED, or SET
 * CONSTRAINTS ... DEFERRED) inserts a row referencing the history table without checking
 * or locking the row it references until its COMMIT. Until then no catalog or table read of
 * ours can see that reference (the row is uncommitted, and the parent carries no lock), so a
 * batch may remove that duplicate and the application's COMMIT then fails with a foreign key
 * violation. A caution, not a refusal (referenceProblems is what a batch refuses on): `check`
 * prints it as !, and `run` logs it at its start (src/dba/indexWarnings.ts).
 */
export function deferrableCautions(refs: readonly Reference[]): Unfit[] {
  return refs
    .filter((ref) => ref.deferrable)
    .map((ref) =>
      caution(
        `foreign key ${describeReference(ref)} references the history table and is DEFERRABLE: a transaction ` +
          'that defers it (INITIALLY DEFERRED, or SET CONSTRAINTS ... DEFERRED) checks and locks the row it ' +
          'references only at its COMMIT, so until then the reconciler cannot see that reference, may remove ' +
          `that duplicate, and the application's COMMIT then fails with a foreign key violation ` +
          `(its insert into ${formatName(ref.child)} is lost)`,
        [`ALTER TABLE ${qualified(ref.child)} ALTER CONSTRAINT ${ident(ref.constraint)} NOT DEFERRABLE;`],
      ),
    );
}

/** Thrown by a batch when a referencing table is not fully readable (see referenceProblems). */
export class UnreadableReferenceError extends Error {
  override readonly name = 'UnreadableReferenceError';
}

export function unreadableReferenceError(plan: JobPlan, problems: readonly Unfit[]): Error {
  return new UnreadableReferenceError(
    `${formatName(plan.job.table)}: ` +
      problems.map((p) => [p.message, ...p.fix.map((l) => `    ${l}`)].join('\n')).join('\n') +
      '\nNothing of this batch was removed.',
  );
}
