import type pg from 'pg';
import { tieBreakerColumn, timeColumn } from '../config/job.js';
import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { relationNamesStartingWithStatement, tableIndexesStatement } from '../sql/indexes.js';
import { findRelation } from './catalog.js';
import { fail, ok, warn, type Finding } from './finding.js';
import { fitName } from './names.js';

/** One index of the history table, as the checks need it. */
export interface IndexInfo {
  name: string;
  /** pg_am.amname: btree, brin, hash, gist... */
  method: string;
  unique: boolean;
  /** A WHERE clause: it serves only some rows, so none of our queries can count on it. */
  partial: boolean;
  /** False after a failed CREATE INDEX CONCURRENTLY (or while one builds). */
  valid: boolean;
  /** Key columns in order (INCLUDE columns left out); null for an expression. */
  columns: (string | null)[];
  /** Per key column: whether it is DESC. */
  descending: boolean[];
}

export interface TableIndexes {
  /** 'r' ordinary, 'p' partitioned (no CREATE INDEX CONCURRENTLY on those). */
  relkind: string;
  indexes: IndexInfo[];
  /** Relation names in the table's schema that a new index name must avoid. */
  taken: Set<string>;
}

export async function readTableIndexes(client: pg.ClientBase, plan: JobPlan): Promise<TableIndexes> {
  const { schema, name } = plan.job.table;
  const table = await findRelation(client, plan.job.table);
  if (!table) throw new Error(`table ${schema}.${name} disappeared while it was being checked`);
  const { rows: indexes } = await client.query<IndexInfo>(tableIndexesStatement(table.oid));
  // Only names that could clash with the ones we propose (they all start with the table's).
  const { rows: names } = await client.query<{ relname: string }>(
    relationNamesStartingWithStatement(table.nsp, name.slice(0, 40)),
  );
  return { relkind: table.relkind, indexes, taken: new Set(names.map((r) => r.relname)) };
}

function usable(index: IndexInfo): boolean {
  return index.valid && !index.partial;
}

/**
 * Serves the scan (one ordered pass per object) and the re-verification (each removed row's
 * predecessor, found backwards from it): a btree led by the key columns, in any order since
 * they are matched by equality, then the orderBy columns in order, all one direction (a row
 * comparison on (start_date, id) cannot use (start_date DESC, id ASC)).
 */
export function servesScan(plan: JobPlan, index: IndexInfo): boolean {
  const keys = plan.job.key;
  const orders = plan.job.orderBy;
  if (index.method !== 'btree' || index.columns.length < keys.length + orders.length) return false;
  const leading = index.columns.slice(0, keys.length);
  if (!keys.every((k) => leading.includes(k))) return false;
  const following = index.columns.slice(keys.length, keys.length + orders.length);
  if (!orders.every((o, i) => following[i] === o)) return false;
  const directions = index.descending.slice(keys.length, keys.length + orders.length);
  return directions.every((d) => d === directions[0]);
}

/**
 * Serves incremental runs, which look for the objects with rows since the checkpoint by the
 * first orderBy column alone: a btree led by it, or a BRIN holding it (BRIN columns are
 * independent, and a BRIN suits an append-only history at a fraction of a btree's size).
 */
export function servesIncremental(plan: JobPlan, index: IndexInfo): boolean {
  const first = timeColumn(plan.job);
  if (index.method === 'btree') return index.columns[0] === first;
  if (index.method === 'brin') return index.columns.includes(first ?? null);
  return false;
}

/** Makes the last orderBy column a real tie-breaker: unique alone, or with the key. */
export function makesTieBreakerUnique(plan: JobPlan, index: IndexInfo): boolean {
  const last = tieBreakerColumn(plan.job);
  const allowed = new Set([...plan.job.key, last]);
  return (
    index.unique && index.columns.includes(last) && index.columns.every((c) => c !== null && allowed.has(c))
  );
}

export interface IndexSpec {
  name: string;
  method: 'btree' | 'brin';
  unique: boolean;
  columns: string[];
}

/** A name in the PostgreSQL style (table_col1_col2_idx), unused in the table's schema. */
export function proposeName(table: string, columns: string[], suffix: string, taken: Set<string>): string {
  const base = `${table}_${columns.join('_')}`;
  let name = fitName(base, suffix);
  for (let n = 1; taken.has(name); n += 1) name = fitName(base, `${suffix}${n}`);
  return name;
}

/**
 * The statement to create an index without blocking writers. CREATE INDEX CONCURRENTLY does
 * not exist for a partitioned table: there the plain statement (which blocks writes while it
 * builds) is printed, with the way around it.
 */
export function createIndexLines(plan: JobPlan, relkind: string, spec: IndexSpec): string[] {
  const unique = spec.unique ? 'UNIQUE ' : '';
  const using = spec.method === 'btree' ? '' : ` USING ${spec.method}`;
  const columns = spec.columns.map(ident).join(', ');
  const target = `${ident(spec.name)} ON ${qualified(plan.job.table)}${using} (${columns});`;
  if (relkind === 'p') {
    return [
      '-- a partitioned table has no CREATE INDEX CONCURRENTLY: this blocks writes while it builds;',
      '-- to avoid that, create it ON ONLY the table, then CONCURRENTLY on each partition and ATTACH it',
      `CREATE ${unique}INDEX ${target}`,
    ];
  }
  return [`CREATE ${unique}INDEX CONCURRENTLY ${target}`];
}

function dropIndexLine(plan: JobPlan, relkind: string, index: IndexInfo): string {
  const name = `${ident(plan.job.table.schema)}.${ident(index.name)}`;
  return relkind === 'p' ? `DROP INDEX ${name};` : `DROP INDEX CONCURRENTLY ${name};`;
}

function describe(index: IndexInfo): string {
  const columns = index.columns.map((c) => c ?? '(expression)').join(', ');
  return `${index.name} (${index.method} on ${columns})`;
}

/** A required index: ✓ when a usable one exists, else ✗ with what to run. */
function requiredIndex(
  plan: JobPlan,
  table: TableIndexes,
  purpose: string,
  matches: (index: IndexInfo) => boolean,
  spec: Omit<IndexSpec, 'name'>,
  suffix: string,
): Finding {
  const candidates = table.indexes.filter((i) => !i.partial && matches(i));
  const good = candidates.find(usable);
  if (good) return ok(`index for ${purpose}: ${describe(good)}`);
  const name = proposeName(plan.job.table.name, spec.columns, suffix, table.taken);
  const create = createIndexLines(plan, table.relkind, { ...spec, name });
  const invalid = candidates[0];
  if (invalid) {
    return fail(
      `index for ${purpose}: ${describe(invalid)} is INVALID (a CREATE INDEX CONCURRENTLY failed or is still running); rebuild it`,
      [dropIndexLine(plan, table.relkind, invalid), ...create],
    );
  }
  return fail(`no index for ${purpose}`, create);
}

/** The index findings of one job. */
export function indexFindings(plan: JobPlan, table: TableIndexes): Finding[] {
  const job = plan.job;
  const first = plan.time.name;
  const last = plan.tieBreaker.name;
  const scanIndex = requiredIndex(
    plan,
    table,
    `the scan and the re-verification, on (${[...job.key, ...job.orderBy].join(', ')})`,
    (i) => servesScan(plan, i),
    { method: 'btree', unique: false, columns: [...job.key, ...job.orderBy] },
    '_idx',
  );
  const findings = [
    // Without it the runs still work, slower (src/reconcile/predecessorLookup.ts).
    scanIndex.level === 'fail' && !scanIndex.message.includes('INVALID')
      ? warn(
          `${scanIndex.message}: runs work without it (a full pass reads the table in one sequential scan ` +
            'and sort, an incremental pass reads it once, and each batch re-reads the histories of its ' +
            'objects in one pass over the table), but with it an incremental pass reads only the objects it ' +
            'touches and a batch reads one index entry per duplicate instead of the whole table',
          scanIndex.fix,
        )
      : scanIndex,
    requiredIndex(
      plan,
      table,
      `incremental runs, on ${first}`,
      (i) => servesIncremental(plan, i),
      { method: 'brin', unique: false, columns: [first] },
      '_brin',
    ),
  ];
  const unique = table.indexes.find((i) => usable(i) && makesTieBreakerUnique(plan, i));
  if (unique) {
    findings.push(ok(`tie-breaker ${last} is unique: ${describe(unique)}`));
  } else {
    // A single orderBy column is a timestamp: unique only per object, with the key.
    const columns = job.orderBy.length > 1 ? [last] : [...job.key, last];
    const name = proposeName(job.table.name, columns, '_key', table.taken);
    const fix =
      table.relkind === 'p'
        ? [
            '-- a unique index on a partitioned table must hold the partition key, so none may be possible;',
            '-- values from a sequence (bigserial, identity) are unique in practice, and then this is moot',
          ]
        : [
            '-- fails if the column already holds duplicates',
            ...createIndexLines(plan, table.relkind, { name, method: 'btree', unique: true, columns }),
          ];
    findings.push(
      warn(
        `tie-breaker ${last} is not known to be unique (no unique index on it, or on the key and it): ` +
          'rows of one object with equal orderBy values have no order, and either may be judged the duplicate',
        fix,
      ),
    );
  }
  return findings;
}
