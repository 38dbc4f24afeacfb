import type pg from 'pg';
import { ConfigError } from '../config/errors.js';
import { formatName } from '../config/job.js';
import { ARCHIVED_AT, REPEATED_ID, type JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { insertColumnsStatement } from '../sql/catalog.js';
import { relationOid } from './archiveTableColumns.js';

/**
 * The columns a restore moves back: every column of the history table but its generated ones
 * (PostgreSQL computes those again, from the same values). A restore is exact, so it refuses
 * (ConfigError, exit 2, nothing changed) an archive that lacks one of them (the restored rows
 * would take a value they never had) or holds one the table no longer has (its values would
 * be lost with the archived row): a migration of the table since they were archived.
 */
export async function readRestoreColumns(
  client: pg.ClientBase,
  plan: JobPlan,
  archiveColumns: string[],
): Promise<string[]> {
  const table = (await relationOid(client, plan.job.table)) as number;
  const { rows } = await client.query<{ name: string; type: string; generated: string }>(
    insertColumnsStatement(table),
  );
  const restored = rows.filter((c) => c.generated === '').map((c) => c.name);
  const generated = rows.filter((c) => c.generated !== '').map((c) => c.name);
  const archive = plan.job.archiveTable!;
  const head = `restore: job "${plan.job.name}": the archive table ${formatName(archive)}`;
  const lacking = restored.filter((c) => !archiveColumns.includes(c));
  if (lacking.length > 0) {
    const types = new Map(rows.map((c) => [c.name, c.type]));
    throw new ConfigError(
      `${head} lacks column(s) ${lacking.map((c) => `"${c}"`).join(', ')} of ${formatName(plan.job.table)} ` +
        '(added to the table since), so the restored rows would take values they never had; expected an ' +
        'archive with every column of the table. A run adds them to the archive (when its role owns it), ' +
        `nullable: then restore moves the rows back with NULL there. Or: ${lacking
          .map((c) => `ALTER TABLE ${qualified(archive)} ADD COLUMN ${ident(c)} ${types.get(c) ?? ''};`)
          .join(' ')} Nothing was changed`,
    );
  }
  const extra = archiveColumns.filter(
    (c) => c !== ARCHIVED_AT && c !== REPEATED_ID && !restored.includes(c) && !generated.includes(c),
  );
  if (extra.length > 0) {
    throw new ConfigError(
      `${head} has column(s) ${extra.map((c) => `"${c}"`).join(', ')} that ${formatName(plan.job.table)} no ` +
        'longer has (dropped from the table since), so restoring would lose their values; expected an archive ' +
        'whose columns are those of the table (plus archived_at and repeated_id). If those values may go: ' +
        `${extra.map((c) => `ALTER TABLE ${qualified(archive)} DROP COLUMN ${ident(c)};`).join(' ')} ` +
        'Nothing was changed',
    );
  }
  return restored;
}
