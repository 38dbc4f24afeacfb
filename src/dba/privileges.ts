import type pg from 'pg';
import { formatName, type Job, type QualifiedName } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { listMigrations, STATE_SCHEMA } from '../sql/stateSchema.js';
import { ident, qualified } from '../db/quote.js';
import { fail, ok, warn, type Finding } from './finding.js';

/** Who `check` runs as, and what the database says about that role. */
export interface RoleInfo {
  role: string;
  database: string;
  superuser: boolean;
  /** Superuser or (inheriting) member of pg_read_all_stats: sees every xact_start. */
  seesAllSessions: boolean;
  standby: boolean;
}

export async function readRole(client: pg.ClientBase): Promise<RoleInfo> {
  const { rows } = await client.query<RoleInfo>(
    `SELECT current_user::text AS role, current_database()::text AS database,
            r.rolsuper AS superuser,
            (r.rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')) AS "seesAllSessions",
            pg_is_in_recovery() AS standby
       FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
  );
  const role = rows[0];
  if (!role) throw new Error('current_user is not in pg_roles');
  return role;
}

/*
 * Each privilege is asked for on its own: has_table_privilege(t, 'SELECT, DELETE') is true
 * when EITHER is held. Tables and sequences go by oid (their text form would be parsed as
 * SQL); schemas by name, which has_schema_privilege takes literally.
 */
async function lacking(
  client: pg.ClientBase,
  test: 'table' | 'anyColumn' | 'sequence' | 'schema' | 'database',
  target: number | string,
  privileges: string[],
): Promise<string[]> {
  const call = {
    table: 'has_table_privilege($1::oid, p)',
    anyColumn: 'has_any_column_privilege($1::oid, p)',
    sequence: 'has_sequence_privilege($1::oid, p)',
    schema: 'has_schema_privilege($1::text, p)',
    database: 'has_database_privilege($1::text, p)',
  }[test];
  const { rows } = await client.query<{ p: string }>(
    `SELECT p FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i) WHERE NOT ${call} ORDER BY i`,
    [target, privileges],
  );
  return rows.map((r) => r.p);
}

async function relationOid(client: pg.ClientBase, name: QualifiedName): Promise<number | undefined> {
  const { rows } = await client.query<{ oid: number }>(
    `SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [name.schema, name.name],
  );
  return rows[0]?.oid;
}

async function schemaExists(client: pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [schema]);
  return rows.length > 0;
}

/**
 * What a run does to a history table: reads it (scan, re-verification), deletes the
 * duplicates, and locks each removed row's predecessor FOR SHARE while it re-verifies
 * (src/sql/collapse.ts). PostgreSQL lets only a role that may UPDATE at least one column
 * lock a row, so UPDATE on one column, the tie-breaker, is the least it accepts; the
 * reconciler itself never updates a row. Shared by `check` and `sql` so they agree.
 */
export function historyTablePrivileges(job: Job): string[] {
  const last = job.orderBy[job.orderBy.length - 1] as string;
  return ['SELECT', 'DELETE', `UPDATE (${ident(last)})`];
}

/** The archive table: filled by INSERT ... SELECT FROM the deleted rows; SELECT for readers of it. */
export const ARCHIVE_TABLE_PRIVILEGES = ['SELECT', 'INSERT'];

/** Column-level privileges ("UPDATE (col)") are held when the role has them on any column. */
async function lackingOnTable(client: pg.ClientBase, oid: number, privileges: string[]): Promise<string[]> {
  const plain = privileges.filter((p) => !p.includes('('));
  const columnLevel = privileges.filter((p) => p.includes('('));
  const missingPlain = await lacking(client, 'table', oid, plain);
  const missingColumn = await lacking(
    client,
    'anyColumn',
    oid,
    columnLevel.map((p) => p.slice(0, p.indexOf('(')).trim()),
  );
  return privileges.filter(
    (p) => missingPlain.includes(p) || missingColumn.includes(p.slice(0, p.indexOf('(')).trim()),
  );
}

export function grantLine(privileges: string[], on: string, role: string): string {
  return `GRANT ${privileges.join(', ')} ON ${on} TO ${ident(role)};`;
}

/** One object's privileges: ✓, or ✗ naming what is missing with the GRANTs that add it. */
async function needs(
  client: pg.ClientBase,
  role: RoleInfo,
  what: string,
  schema: string,
  table: { oid: number; name: QualifiedName; privileges: string[] } | undefined,
  schemaPrivileges: string[],
): Promise<Finding> {
  const onSchema = await lacking(client, 'schema', schema, schemaPrivileges);
  const onTable = table ? await lackingOnTable(client, table.oid, table.privileges) : [];
  const held = [
    `${schemaPrivileges.join(', ')} on schema ${schema}`,
    ...(table ? [`${table.privileges.join(', ')} on ${formatName(table.name)}`] : []),
  ];
  if (onSchema.length === 0 && onTable.length === 0) return ok(`${what}: ${held.join('; ')}`);
  const missing = [
    ...(onSchema.length > 0 ? [`${onSchema.join(', ')} on schema ${schema}`] : []),
    ...(table && onTable.length > 0 ? [`${onTable.join(', ')} on ${formatName(table.name)}`] : []),
  ];
  return fail(`${what}: role "${role.role}" lacks ${missing.join(' and ')}`, [
    ...(onSchema.length > 0 ? [grantLine(onSchema, `SCHEMA ${ident(schema)}`, role.role)] : []),
    ...(table && onTable.length > 0 ? [grantLine(onTable, `TABLE ${qualified(table.name)}`, role.role)] : []),
  ]);
}

/** What one job needs on its own tables: the history table and, in archive mode, the archive. */
export async function jobPrivilegeFindings(
  client: pg.ClientBase,
  plan: JobPlan,
  role: RoleInfo,
): Promise<Finding[]> {
  const job = plan.job;
  const findings: Finding[] = [];
  const tableOid = (await relationOid(client, job.table)) as number;
  findings.push(
    await needs(
      client,
      role,
      `read, lock and delete rows of ${formatName(job.table)}`,
      job.table.schema,
      { oid: tableOid, name: job.table, privileges: historyTablePrivileges(job) },
      ['USAGE'],
    ),
  );

  // A row the role cannot see is a row the scan skips: the rows around it would then look
  // consecutive, and a real transition (A, B, A) could be taken for a duplicate.
  const { rows } = await client.query<{ active: boolean }>('SELECT row_security_active($1::oid) AS active', [
    tableOid,
  ]);
  if (rows[0]?.active) {
    findings.push(
      fail(
        `row-level security is active on ${formatName(job.table)} for role "${role.role}": ` +
          'the reconciler must see every row of a history to judge it',
        [`ALTER ROLE ${ident(role.role)} BYPASSRLS;`],
      ),
    );
  }

  if (job.mode === 'archive' && job.archiveTable) {
    const archive = job.archiveTable;
    const archiveOid = await relationOid(client, archive);
    if (archiveOid !== undefined) {
      findings.push(
        await needs(
          client,
          role,
          `archive into ${formatName(archive)}`,
          archive.schema,
          { oid: archiveOid, name: archive, privileges: ARCHIVE_TABLE_PRIVILEGES },
          ['USAGE'],
        ),
      );
    } else if (await schemaExists(client, archive.schema)) {
      const finding = await needs(
        client,
        role,
        `create the archive table ${formatName(archive)} on the first run`,
        archive.schema,
        undefined,
        ['USAGE', 'CREATE'],
      );
      if (finding.level === 'fail') {
        finding.fix.push('-- or create the archive table beforehand: see `status-reconciler sql`');
      }
      findings.push(finding);
    } else {
      findings.push(
        fail(`the schema ${archive.schema} of the archive table ${formatName(archive)} does not exist`, [
          `CREATE SCHEMA ${ident(archive.schema)};`,
          grantLine(['USAGE', 'CREATE'], `SCHEMA ${ident(archive.schema)}`, role.role),
        ]),
      );
    }
  }
  return findings;
}

/** The state table only read by the reconciler: its migrations are the administrator's record. */
const READ_ONLY_STATE_TABLES = new Set(['migrations']);
const STATE_TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

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
    `SELECT c.oid, c.relname AS name, c.relkind::text AS kind
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'S')
      ORDER BY c.relname`,
    [STATE_SCHEMA],
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
  const { rows } = await client.query<{ id: number }>(`SELECT id FROM ${ident(STATE_SCHEMA)}.migrations`);
  const applied = new Set(rows.map((r) => r.id));
  return files.filter((m) => !applied.has(m.id)).map((m) => m.file);
}

/** The horizon's view of other sessions, and the server being a primary. */
export function roleFindings(role: RoleInfo): Finding[] {
  const findings: Finding[] = [];
  findings.push(
    role.standby
      ? fail(
          'the server is a standby (in recovery): the reconciler writes, so point DATABASE_URL at the primary',
        )
      : ok('the server is a primary'),
  );
  findings.push(
    role.seesAllSessions
      ? ok(
          `role "${role.role}" sees other sessions' transactions for the horizon (${role.superuser ? 'superuser' : 'pg_read_all_stats'})`,
        )
      : warn(
          `role "${role.role}" cannot see other roles' transactions in pg_stat_activity: ` +
            "the horizon ignores their xact_start and relies on each job's settleSeconds alone",
          [`GRANT pg_read_all_stats TO ${ident(role.role)};`],
        ),
  );
  return findings;
}
