/* The report's last part: one object's history before and after the pass. */
import type pg from 'pg';
import { ARCHIVE, BEFORE } from './database.js';
import { n, out } from './output.js';

interface ExampleRow {
  id: string;
  status_id: number | null;
  at: string;
  archived: boolean;
  repeated_id: string | null;
  gap_ms: number | null;
}

const SHOWN = 12;

function formatGap(ms: number): string {
  return ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(1)} ms`;
}

/** The first SHOWN statuses of `list`, e.g. "1 1 2 3 …". */
function sequence(list: ExampleRow[]): string {
  return (
    list
      .slice(0, SHOWN)
      .map((r) => String(r.status_id ?? 'null'))
      .join(' ') + (list.length > SHOWN ? ' …' : '')
  );
}

/** One object's history before and after: preferably one whose very first status was doubled. */
export async function printExample(db: pg.Client): Promise<void> {
  const { rows: picked } = await db.query<{ object_id: number; first_doubled: boolean; archived: string }>(`
    SELECT a.object_id,
           bool_or(a.repeated_id = (SELECT b.id FROM ${BEFORE} b WHERE b.object_id = a.object_id
                                     ORDER BY b.start_date, b.id LIMIT 1)) AS first_doubled,
           count(*) AS archived
      FROM ${ARCHIVE} a GROUP BY a.object_id
     ORDER BY first_doubled DESC, archived DESC, a.object_id LIMIT 1`);
  const choice = picked[0];
  if (!choice) return;
  const { rows } = await db.query<ExampleRow>(
    `SELECT b.id::text AS id, b.status_id, to_char(b.start_date, 'HH24:MI:SS.US') AS at,
            a.id IS NOT NULL AS archived, a.repeated_id::text AS repeated_id,
            (extract(epoch FROM b.start_date - r.start_date) * 1000)::float8 AS gap_ms
       FROM ${BEFORE} b
       LEFT JOIN ${ARCHIVE} a ON a.id = b.id
       LEFT JOIN ${BEFORE} r ON r.id = a.repeated_id
      WHERE b.object_id = $1
      ORDER BY b.start_date, b.id`,
    [choice.object_id],
  );
  const after = rows.filter((r) => !r.archived);
  const archivedIds = new Set(rows.filter((r) => r.archived).map((r) => r.id));

  out();
  out(
    `Example: object ${choice.object_id}` +
      (choice.first_doubled ? ', whose first status two writers wrote at once' : ''),
  );
  out(`  before  ${sequence(rows).padEnd(26)}  ${n(rows.length)} rows`);
  out(
    `  after   ${sequence(after).padEnd(26)}  ${n(after.length)} rows, ${n(rows.length - after.length)} archived`,
  );

  // A window of its history around the first archived row.
  const first = rows.findIndex((r) => r.archived);
  const from = Math.max(0, first - 2);
  const to = Math.min(rows.length, first + 5);
  out();
  out(`  ${'id'.padStart(8)}  status  start_date`);
  if (from > 0) out(`  ${'…'.padStart(8)}`);
  for (const r of rows.slice(from, to)) {
    const fate = r.archived
      ? `archived: repeats id ${r.repeated_id ?? '?'}` +
        (r.repeated_id !== null && archivedIds.has(r.repeated_id) ? ' (archived too)' : '') +
        `, ${formatGap(r.gap_ms ?? 0)} later`
      : 'kept';
    out(`  ${r.id.padStart(8)}  ${String(r.status_id ?? 'null').padStart(6)}  ${r.at}  ${fate}`);
  }
  if (to < rows.length) out(`  ${'…'.padStart(8)}`);
}
