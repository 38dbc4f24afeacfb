import pg from 'pg';
import type { Job } from '../config/job.js';
import { ident } from '../db/quote.js';
import { dollarQuote } from './names.js';
import { collapsedViewName, currentViewName, viewStatements } from './views.js';

/**
 * What `status-reconciler sql --views MODE` prints: `recreate` (drop and create, one
 * transaction), or one half, `drop` or `create`, for a transaction of your own around a
 * migration (a Django migration's RunSQL, `psql --single-transaction`).
 */
export const VIEWS_MODES = ['recreate', 'drop', 'create'] as const;
export type ViewsMode = (typeof VIEWS_MODES)[number];

/*
 * Why a migration needs them. A view stores its query as parsed when it was created: `t.*`
 * is expanded into the columns the table had then, and the view depends on each column it
 * reads. So an ALTER COLUMN ... TYPE on one of them fails ("cannot alter type of a column used
 * by a view or rule"), a column added later is not in the view until it is created again,
 * and a column dropped with CASCADE (Django drops columns so) drops the view with it. Listing
 * the columns instead of `t.*` changes none of that: the views read the key, orderBy and
 * compare columns whatever they list. PostgreSQL has no view that follows its table, so the
 * views are dropped before such a migration and created again after it.
 *
 * DROP VIEW takes the grants on a view with it. The drop half keeps them, in a temporary
 * table of the session, and the create half gives them back, so both must run in one session
 * (one transaction, or one Django migration); in another, the views come back without them.
 */
const GRANTS = 'status_reconciler_view_grants';

const literal = (text: string): string => pg.escapeLiteral(text);

function views(jobs: Job[]): { schema: string; name: string }[] {
  return jobs.flatMap((job) => [
    { schema: job.table.schema, name: collapsedViewName(job) },
    { schema: job.table.schema, name: currentViewName(job) },
  ]);
}

function dropHalf(jobs: Job[]): string {
  const list = views(jobs);
  const names = list.map((v) => `(${literal(v.schema)}, ${literal(v.name)})`).join(', ');
  return `-- Keep the grants on the views (DROP VIEW drops them): the create half gives them back.
CREATE TEMPORARY TABLE IF NOT EXISTS ${GRANTS} (
  schema_name text, view_name text, owner oid, acl aclitem[], PRIMARY KEY (schema_name, view_name));
INSERT INTO ${GRANTS}
SELECT n.nspname, c.relname, c.relowner, c.relacl
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'v' AND c.relacl IS NOT NULL
   AND (n.nspname::text, c.relname::text) IN (VALUES ${names})
ON CONFLICT DO NOTHING;

${list.map((v) => `DROP VIEW IF EXISTS ${ident(v.schema)}.${ident(v.name)};`).join('\n')}`;
}

function createHalf(jobs: Job[]): string {
  const body = `
DECLARE
  g record;
BEGIN
  IF to_regclass('pg_temp.${GRANTS}') IS NULL THEN
    RETURN; -- dropped in another session (or never): nothing kept to give back
  END IF;
  FOR g IN
    SELECT format('%I.%I', k.schema_name, k.view_name) AS view, a.privilege_type, a.is_grantable,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee
      FROM pg_temp.${GRANTS} k
      CROSS JOIN LATERAL pg_catalog.aclexplode(k.acl) a
      JOIN pg_catalog.pg_class c ON c.oid = to_regclass(format('%I.%I', k.schema_name, k.view_name))
     WHERE a.grantee NOT IN (k.owner, c.relowner)
  LOOP
    EXECUTE format('GRANT %s ON TABLE %s TO %s%s', g.privilege_type, g.view, g.grantee,
                   CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
  DROP TABLE pg_temp.${GRANTS};
END
`;
  return `${jobs.flatMap(viewStatements).join('\n\n')}

-- The grants the drop half kept, given back (the views' owner is now the role applying this).
DO ${dollarQuote(body, 'do')};`;
}

/** The script of `sql --views MODE`, printed from the job files alone. */
export function viewsScript(jobs: Job[], mode: ViewsMode, source: string): string {
  const names = jobs.map((j) => `"${j.name}"`).join(', ');
  const header = `-- status-reconciler sql --views ${mode}: the reader views of job(s) ${names} (from ${source}),
-- <table>_current and <table>_collapsed. Printed from the job files alone: no database was read.
--
-- A view keeps the columns its table had when it was created: ALTER COLUMN ... TYPE on a
-- column it reads fails ("cannot alter type of a column used by a view or rule"), a column
-- added since is not in it, and DROP COLUMN ... CASCADE (what Django runs) drops it. Around
-- a migration that changes the table: drop the views, migrate, create them again.
--   recreate  both halves in one transaction: after a migration that added, renamed or
--             dropped columns (it needs no drop before it)
--   drop      before a migration that changes the type of a column the views read
--   create    after it
-- drop and create have no BEGIN/COMMIT: run them in the migration's own transaction (Django's
-- RunSQL), or with psql --single-transaction -f drop.sql -f migration.sql -f create.sql.
-- The grants on the views are carried from drop to create within one session.`;
  const parts =
    mode === 'recreate'
      ? ['BEGIN;', dropHalf(jobs), createHalf(jobs), 'COMMIT;']
      : [mode === 'drop' ? dropHalf(jobs) : createHalf(jobs)];
  return `${[header, ...parts].join('\n\n')}\n`;
}
