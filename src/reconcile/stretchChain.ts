/**
 * The scan's `before` column (src/sql/scan.ts, beforeChain) as the tie-breakers of the rows
 * before a duplicate in its stretch, nearest first: the JSON array cut at its first NULL,
 * where the rows stop being of the stretch. Empty when the job's lookup does not use it.
 */
export function stretchBefore(column: string | null | undefined): string[] {
  if (column === null || column === undefined) return [];
  const all = JSON.parse(column) as (string | null)[];
  const end = all.indexOf(null);
  return (end === -1 ? all : all.slice(0, end)) as string[];
}
