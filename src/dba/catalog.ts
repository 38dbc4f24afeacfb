import type pg from 'pg';
import type { QualifiedName } from '../config/job.js';
import { findRelationStatement, schemaExistsStatement } from '../sql/catalog.js';

/** A relation as the catalog holds it. */
export interface Relation {
  oid: number;
  /** pg_class.relkind: 'r' ordinary table, 'p' partitioned, ... */
  relkind: string;
  /** The oid of its schema. */
  nsp: number;
}

/** The relation of that schema and name (any kind), or undefined when there is none. */
export async function findRelation(
  client: pg.ClientBase,
  name: QualifiedName,
): Promise<Relation | undefined> {
  const { rows } = await client.query<Relation>(findRelationStatement(name));
  return rows[0];
}

export async function schemaExists(client: pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await client.query(schemaExistsStatement(schema));
  return rows.length > 0;
}
