import type pg from 'pg';
import type { QualifiedName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { findRelationStatement, tableColumnsStatement } from '../sql/catalog.js';

/** The oid of a table (or partitioned table) by name; undefined when there is none. */
export async function relationOid(client: pg.ClientBase, name: QualifiedName): Promise<number | undefined> {
  const { rows } = await client.query<{ oid: number; relkind: string }>(findRelationStatement(name));
  return rows.find((r) => r.relkind === 'r' || r.relkind === 'p')?.oid;
}

/** The archive table's columns, in order; undefined while it does not exist (nothing archived yet). */
export async function readArchiveColumns(
  client: pg.ClientBase,
  plan: JobPlan,
): Promise<string[] | undefined> {
  const archive = plan.job.archiveTable;
  if (plan.job.mode !== 'archive' || !archive) return undefined;
  const oid = await relationOid(client, archive);
  if (oid === undefined) return undefined;
  const { rows } = await client.query<{ name: string }>(tableColumnsStatement(oid));
  return rows.map((r) => r.name);
}
