import type pg from 'pg';
import { formatName, type Job } from '../config/job.js';
import { ident, qualified } from '../db/quote.js';
import { columnOperatorsStatement } from '../sql/catalog.js';
import { refuse, type Unfit } from './unfit.js';

interface OperatorRow {
  name: string;
  type: string;
  equality: boolean;
  ordering: boolean;
  withoutEquality: string;
  withoutOrdering: string;
}

type Field = 'key' | 'orderBy' | 'compare';

/*
 * What each field's columns go through, and so what their type must have. compare: IS NOT
 * DISTINCT FROM against the predecessor (an equality operator). key: the scan's PARTITION BY
 * (which sorts) and the joins on it (an ordering, which brings equality). orderBy: the
 * window's ORDER BY and the row comparison (a, b) < (c, d) of the re-verification (an
 * ordering).
 */
const NEEDS: Record<Field, { what: 'equality' | 'ordering'; why: string }> = {
  compare: {
    what: 'equality',
    why:
      "the reconciler compares each row's compare values with its predecessor's by IS NOT DISTINCT FROM, " +
      'which needs one. compare takes column names only: comparing a cast or an expression instead is not supported',
  },
  key: {
    what: 'ordering',
    why: 'the scan partitions each history by key (PARTITION BY, which sorts) and matches rows by key, which needs one',
  },
  orderBy: {
    what: 'ordering',
    why: "the reconciler orders each history by orderBy and compares rows' positions ((a, b) < (c, d)), which needs one",
  },
};

/** Types with no operator for us but a close relative that has both: json as jsonb, xml as text. */
const REPLACEMENTS: Record<string, { type: string; note: string }> = {
  json: { type: 'jsonb', note: `jsonb compares values, not text: '{"a":1}' and '{ "a": 1 }' are then equal` },
  xml: { type: 'text', note: 'the documents are then compared as text' },
};

function fixLines(job: Job, row: OperatorRow, what: 'equality' | 'ordering'): string[] {
  const array = row.type.endsWith('[]');
  const replacement = REPLACEMENTS[array ? row.type.slice(0, -2) : row.type];
  if (replacement) {
    const type = `${replacement.type}${array ? '[]' : ''}`;
    const column = ident(row.name);
    return [
      `-- store it as ${type} (rewrites the table under an ACCESS EXCLUSIVE lock; ${replacement.note}):`,
      `ALTER TABLE ${qualified(job.table)} ALTER COLUMN ${column} TYPE ${type} USING ${column}::${type};`,
    ];
  }
  const classes = what === 'equality' ? 'btree or hash' : 'btree';
  return [
    `-- change the column to a type with a default ${classes} operator class (see pg_opclass), or give ` +
      `${row.type} one (CREATE OPERATOR CLASS ... DEFAULT FOR TYPE ... USING btree)`,
  ];
}

/** Each key, orderBy or compare column whose type lacks the operator the reconciler uses on it. */
export async function columnTypeProblems(client: pg.ClientBase, job: Job): Promise<Unfit[]> {
  const names = [...job.key, ...job.orderBy, ...job.compare];
  const { rows } = await client.query<OperatorRow>(columnOperatorsStatement(job.table, names));
  const problems: Unfit[] = [];
  for (const field of ['key', 'orderBy', 'compare'] as const) {
    const { what, why } = NEEDS[field];
    for (const name of job[field]) {
      const row = rows.find((r) => r.name === name);
      if (!row || row[what]) continue;
      const lacking =
        what === 'equality'
          ? `no equality operator (no default btree or hash operator class for ${row.withoutEquality})`
          : `no ordering, so PostgreSQL cannot sort it (no default btree operator class for ${row.withoutOrdering})`;
      problems.push(
        refuse(
          `invalid "${field}": column "${name}" of ${formatName(job.table)} has type ${row.type}, ` +
            `which has ${lacking}; ${why}`,
          fixLines(job, row, what),
        ),
      );
    }
  }
  return problems;
}
