import type pg from 'pg';
import { ident } from '../db/quote.js';
import { currentRoleStatement } from '../sql/privileges.js';
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
  const { rows } = await client.query<RoleInfo>(currentRoleStatement());
  const role = rows[0];
  if (!role) throw new Error('current_user is not in pg_roles');
  return role;
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
