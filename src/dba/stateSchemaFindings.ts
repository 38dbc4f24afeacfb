import type pg from 'pg';
import { ident } from '../db/quote.js';
import { stateRelationsStatement } from '../sql/privileges.js';
import { appliedMigrationsStatement, listMigrations, STATE_SCHEMA } from '../sql/stateSchema.js';
import { schemaExists } from './catalog.js';
import { fail, ok, type Finding } from './finding.js';
import { grantLine, lacking, READ_ONLY_STATE_TABLES, STATE_TABLE_PRIVILEGES } from './privileges.js';
import type { RoleInfo } from './role.js';

/**
 * The reconciler's own schema. Missing: the role must be able to create it (CREATE on the
 * database), or an administrator applies the DDL of `status-reconciler sql` first. Present:
 * USAGE on it, DML on its tables, USAGE on its sequences (run_history's id), and every
 * migration applied, since applying one takes CREATE privileges a least-privilege role lacks.
 */
export async function stateSchemaFindings(
  client: pg.ClientBase,
  role: RoleInfo,
  sqlCommand: (role: string) => string,
): Promise<Finding[]> {
  const applySql = `apply the output of \`${sqlCommand(role.role)}\` as an administrator`;
  if (!(await schemaExists(client, STATE_SCHEMA))) {
    const missing = await lacking(client, 'database', role.database, ['CREATE']);
    if (missing.length === 0) {
      return [ok(`schema ${STATE_SCHEMA} does not exist yet; the first run creates it (CREATE on database)`)];
    }
    return [
      fail(
        `schema ${STATE_SCHEMA} does not exist, and role "${role.role}" may not create it (CREATE on database ${role.database})`,
        [
          grantLine(['CREATE'], `DATABASE ${ident(role.database)}`, role.role),
          `-- or, least privilege: ${applySql}`,
        ],
      ),
    ];
  }

  const findings: Finding[] = [];
  const usage = await lacking(client, 'schema', STATE_SCHEMA, ['USAGE']);
  const { rows: relations } = await client.query<{ oid: number; name: string; kind: string }>(
    stateRelationsStatement(),
  );
  const fixes: string[] = [];
  const missing: string[] = [];
  if (usage.length > 0) {
    missing.push(`USAGE on schema ${STATE_SCHEMA}`);
    fixes.push(grantLine(usage, `SCHEMA ${ident(STATE_SCHEMA)}`, role.role));
  }
  for (const relation of relations) {
    const sequence = relation.kind === 'S';
    const wanted = sequence
      ? ['USAGE']
      : READ_ONLY_STATE_TABLES.has(relation.name)
        ? ['SELECT']
        : STATE_TABLE_PRIVILEGES;
    const lack = await lacking(client, sequence ? 'sequence' : 'table', relation.oid, wanted);
    if (lack.length === 0) continue;
    const name = `${ident(STATE_SCHEMA)}.${ident(relation.name)}`;
    missing.push(`${lack.join(', ')} on ${STATE_SCHEMA}.${relation.name}`);
    fixes.push(grantLine(lack, `${sequence ? 'SEQUENCE' : 'TABLE'} ${name}`, role.role));
  }
  findings.push(
    missing.length === 0
      ? ok(`schema ${STATE_SCHEMA}: USAGE on it, and DML on its tables and sequences`)
      : fail(`schema ${STATE_SCHEMA}: role "${role.role}" lacks ${missing.join('; ')}`, fixes),
  );

  const pending = await pendingMigrations(client, relations, usage.length === 0);
  if (pending.length > 0) {
    const canMigrate =
      (await lacking(client, 'database', role.database, ['CREATE'])).length === 0 &&
      (await lacking(client, 'schema', STATE_SCHEMA, ['CREATE'])).length === 0;
    const what = `schema ${STATE_SCHEMA} lacks migration(s) ${pending.join(', ')}`;
    findings.push(
      canMigrate
        ? ok(`${what}; the next run applies them`)
        : fail(`${what}, and role "${role.role}" may not apply them`, [
            `-- ${applySql} (it applies the missing ones only)`,
          ]),
    );
  }
  return findings;
}

async function pendingMigrations(
  client: pg.ClientBase,
  relations: { oid: number; name: string }[],
  schemaUsable: boolean,
): Promise<string[]> {
  const table = relations.find((r) => r.name === 'migrations');
  const files = listMigrations();
  if (!table) return files.map((m) => m.file);
  // Unreadable: the privilege finding above already says so; nothing more to learn here.
  if (!schemaUsable || (await lacking(client, 'table', table.oid, ['SELECT'])).length > 0) return [];
  const { rows } = await client.query<{ id: number }>(appliedMigrationsStatement());
  const applied = new Set(rows.map((r) => r.id));
  return files.filter((m) => !applied.has(m.id)).map((m) => m.file);
}
