/**
 * Correctness of the contenders under racing writers (the race the tool exists for), as in
 * test/integration/concurrency.test.ts, at a benchmark's size: `writers` connections doing
 * "read the latest status of an object, insert if different", half of them in transactions
 * that commit late (BEGIN; SELECT now(); sleep 0-300 ms; read; INSERT with start_date =
 * now(); sleep 0-50 ms; COMMIT), so their rows land behind rows others committed meanwhile;
 * a fifth are blind inserts. Meanwhile, on a table of its own each:
 * (a) the one-statement peer DELETE runs every second;
 * (b) our reconciler (runJobs, settleSeconds 1, incremental passes) runs every second.
 * The oracle: a trigger copies every insert into a shadow table. After the writers stop,
 * the peer runs once more, ours settles and runs an incremental and a --full pass; then
 * each object's collapsed status sequence (consecutive equals merged, by start_date, id) from
 * the shadow is compared with the table's. Removing rows never adds a transition, so
 * shadow transitions - table transitions, summed over objects, are the transitions lost.
 */
import pg from 'pg';
import { parseJob } from '../src/config/job.js';
import { createLogger } from '../src/log.js';
import { runJobs } from '../src/reconcile/runJobs.js';
import { peerDeleteSql } from './peerSql.js';

export interface RaceSettings {
  rows: number;
  objects: number;
  writers: number;
  seconds: number;
}

export interface RaceResult {
  contender: 'ours' | 'peer DELETE';
  table: string;
  inserts: number;
  lateCommits: number;
  /** Consecutive duplicates among everything ever inserted (the shadow). */
  shadowDuplicates: number;
  /** Transitions the writers added (the shadow's, less the seed's). */
  raceTransitions: number;
  runs: number;
  failedRuns: number;
  removedWhileRacing: number;
  removedAfter: number;
  shadowTransitions: number;
  tableTransitions: number;
  transitionsLost: number;
  /** Rows the collapse of the shadow keeps that are gone from the table. */
  keptRowsGone: number;
  /** Consecutive duplicates still in the table at the end. */
  duplicatesLeft: number;
  error?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = (n: number) => Math.floor(Math.random() * n);

async function connect(url: string, name: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: name });
  await c.connect();
  return c;
}

/** The history table with a trigger-fed shadow of every insert, seeded with `rows` rows. */
async function createRaceTable(c: pg.Client, table: string, s: RaceSettings): Promise<void> {
  await c.query(`DROP TABLE IF EXISTS ${table}, ${table}_shadow CASCADE`);
  await c.query(`DROP FUNCTION IF EXISTS ${table}_copy()`);
  await c.query(
    `CREATE TABLE ${table} (id bigserial PRIMARY KEY, object_id int NOT NULL, status_id int,
                            start_date timestamptz NOT NULL DEFAULT now())`,
  );
  await c.query(`CREATE INDEX ON ${table} (object_id, start_date, id)`);
  await c.query(`CREATE INDEX ON ${table} USING brin (start_date)`);
  await c.query(`CREATE TABLE ${table}_shadow AS TABLE ${table} WITH NO DATA`);
  await c.query(
    `CREATE FUNCTION ${table}_copy() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO ${table}_shadow SELECT NEW.*; RETURN NEW; END $$`,
  );
  await c.query(
    `CREATE TRIGGER copy_every_insert AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_copy()`,
  );
  // The seed: a history over the last day (ending a minute ago), statuses 1-3 in turn per
  // object (no duplicate: what the race adds is what is counted).
  await c.query(
    `INSERT INTO ${table} (object_id, status_id, start_date)
     SELECT 1 + g % $2, 1 + (g / $2) % 3,
            now() - interval '1 minute' - interval '1 day' * (1 - g::float8 / $1)
       FROM generate_series(1, $1::int) g ORDER BY g`,
    [s.rows, s.objects],
  );
  await c.query(`VACUUM (ANALYZE) ${table}`);
}

interface WriterStats {
  inserts: number;
  late: number;
}

async function racyWriter(c: pg.Client, table: string, objects: number, until: number, stats: WriterStats) {
  while (Date.now() < until) {
    const object = 1 + pick(objects);
    const status = 1 + pick(3);
    if (Math.random() < 0.2) {
      await c.query(`INSERT INTO ${table} (object_id, status_id) VALUES ($1, $2)`, [object, status]);
      stats.inserts += 1;
      continue;
    }
    const late = Math.random() < 0.5;
    await c.query('BEGIN');
    await c.query('SELECT now()'); // the transaction's start: the row's start_date
    if (late) await sleep(pick(300));
    const { rows } = await c.query<{ status_id: number }>(
      `SELECT status_id FROM ${table} WHERE object_id = $1 ORDER BY start_date DESC, id DESC LIMIT 1`,
      [object],
    );
    let inserted = false;
    if (rows[0]?.status_id !== status) {
      await c.query(`INSERT INTO ${table} (object_id, status_id, start_date) VALUES ($1, $2, now())`, [
        object,
        status,
      ]);
      inserted = true;
    }
    if (late) await sleep(pick(50));
    await c.query('COMMIT');
    if (inserted) {
      stats.inserts += 1;
      if (late) stats.late += 1;
    }
  }
}

async function countOne(c: pg.Client, sql: string): Promise<number> {
  const { rows } = await c.query<{ n: string }>(sql);
  return Number(rows[0]?.n ?? 0);
}

const transitionsSql = (t: string) =>
  `SELECT count(*) AS n FROM (
     SELECT status_id IS DISTINCT FROM lag(status_id) OVER w AND row_number() OVER w > 1 AS change
       FROM ${t} WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s WHERE change`;

const duplicatesSql = (t: string) =>
  `SELECT count(*) AS n FROM (
     SELECT status_id IS NOT DISTINCT FROM lag(status_id) OVER w AND row_number() OVER w > 1 AS dup
       FROM ${t} WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s WHERE dup`;

/** The rows the collapse of the shadow keeps (first of each run) that are gone from the table. */
const keptGoneSql = (t: string) =>
  `SELECT count(*) AS n FROM (
     SELECT id, row_number() OVER w = 1 OR status_id IS DISTINCT FROM lag(status_id) OVER w AS keep
       FROM ${t}_shadow WINDOW w AS (PARTITION BY object_id ORDER BY start_date, id)) s
    WHERE keep AND NOT EXISTS (SELECT 1 FROM ${t} x WHERE x.id = s.id)`;

function ourJob(table: string) {
  return parseJob(
    {
      name: `bench-race-${table.replace(/\W/g, '_')}`,
      table,
      key: ['object_id'],
      orderBy: ['start_date', 'id'],
      compare: ['status_id'],
      mode: 'delete',
      settleSeconds: 1,
    },
    'bench',
  );
}

/** One contender against the writers; `pass` runs once, returns rows removed (throws on failure). */
async function race(
  url: string,
  contender: RaceResult['contender'],
  table: string,
  s: RaceSettings,
  pass: () => Promise<number>,
  finish: () => Promise<number>,
): Promise<RaceResult> {
  const setup = await connect(url, 'status-reconciler-bench-race');
  try {
    await createRaceTable(setup, table, s);
    const seedTransitions = await countOne(setup, transitionsSql(`${table}_shadow`));
    const clients = await Promise.all(
      Array.from({ length: s.writers }, () => connect(url, 'status-reconciler-bench-writer')),
    );
    const stats: WriterStats = { inserts: 0, late: 0 };
    let runs = 0;
    let failedRuns = 0;
    let removedWhileRacing = 0;
    let error: string | undefined;
    const until = Date.now() + s.seconds * 1000;
    try {
      const writers = Promise.allSettled(clients.map((c) => racyWriter(c, table, s.objects, until, stats)));
      const runner = (async () => {
        while (Date.now() < until) {
          const started = Date.now();
          try {
            removedWhileRacing += await pass();
          } catch (e) {
            failedRuns += 1;
            error ??= (e as Error).message;
          }
          runs += 1;
          await sleep(Math.max(0, started + 1000 - Date.now()));
        }
      })();
      const settled = await writers;
      await runner;
      for (const r of settled) if (r.status === 'rejected') throw r.reason;
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
    const removedAfter = await finish();
    const shadowTransitions = await countOne(setup, transitionsSql(`${table}_shadow`));
    const tableTransitions = await countOne(setup, transitionsSql(table));
    return {
      contender,
      table,
      inserts: stats.inserts,
      lateCommits: stats.late,
      shadowDuplicates: await countOne(setup, duplicatesSql(`${table}_shadow`)),
      raceTransitions: shadowTransitions - seedTransitions,
      runs,
      failedRuns,
      removedWhileRacing,
      removedAfter,
      shadowTransitions,
      tableTransitions,
      transitionsLost: shadowTransitions - tableTransitions,
      keptRowsGone: await countOne(setup, keptGoneSql(table)),
      duplicatesLeft: await countOne(setup, duplicatesSql(table)),
      ...(error ? { error } : {}),
    };
  } finally {
    await setup.end();
  }
}

export async function runRace(url: string, s: RaceSettings): Promise<RaceResult[]> {
  const peerTable = 'public.race_peer';
  const peerClient = await connect(url, 'status-reconciler-bench-peer');
  const peerPass = async () => (await peerClient.query(peerDeleteSql(peerTable))).rowCount ?? 0;
  let peer: RaceResult;
  try {
    peer = await race(url, 'peer DELETE', peerTable, s, peerPass, peerPass);
  } finally {
    await peerClient.end();
  }

  const oursTable = 'public.race_ours';
  const job = ourJob(oursTable);
  const logger = createLogger('silent');
  const ourPass = async (full: boolean) => {
    const [result] = await runJobs({ connectionString: url }, [job], { dryRun: false, full, logger });
    if (!result) throw new Error('runJobs returned no result');
    if (result.outcome === 'failure') throw result.error ?? new Error('the pass failed');
    return result.duplicatesRemoved;
  };
  const ours = await race(
    url,
    'ours',
    oursTable,
    s,
    // The first pass is a full one (it sets the checkpoint), then incremental passes.
    (() => {
      let first = true;
      return async () => {
        const full = first;
        first = false;
        return ourPass(full);
      };
    })(),
    async () => {
      await sleep((job.settleSeconds + 1) * 1000);
      return (await ourPass(false)) + (await ourPass(true));
    },
  );
  return [ours, peer];
}

export function raceTable(results: RaceResult[], s: RaceSettings): string {
  const headers = [
    'contender',
    'inserts',
    'late commits',
    'dups inserted',
    'runs (failed)',
    'removed racing / after',
    'transitions added by writers',
    'transitions: shadow / table',
    'transitions lost',
    'kept rows gone',
    'dups left',
  ];
  const rows = results.map((r) => [
    r.contender,
    String(r.inserts),
    String(r.lateCommits),
    String(r.shadowDuplicates),
    `${r.runs} (${r.failedRuns})`,
    `${r.removedWhileRacing} / ${r.removedAfter}`,
    String(r.raceTransitions),
    `${r.shadowTransitions} / ${r.tableTransitions}`,
    String(r.transitionsLost),
    String(r.keptRowsGone),
    String(r.duplicatesLeft),
  ]);
  const ours = results.find((r) => r.contender === 'ours');
  const peer = results.find((r) => r.contender === 'peer DELETE');
  return [
    `racing writers: ${s.writers} connections on ${s.objects} objects for ${s.seconds} s per contender, ` +
      `tables seeded with ${s.rows} rows; half the read-then-insert transactions commit 0-350 ms late`,
    '',
    markdown(headers, rows),
    '',
    `transitions lost: ours ${ours?.transitionsLost ?? '?'} (of ${ours?.raceTransitions ?? '?'} the writers added), ` +
      `peer DELETE ${peer?.transitionsLost ?? '?'} (of ${peer?.raceTransitions ?? '?'})`,
    ...results.filter((r) => r.error).map((r) => `(${r.contender}: a run failed: ${r.error ?? ''})`),
  ].join('\n');
}

/** A Markdown table (readable as is in a terminal); `numeric` columns are right-aligned. */
export function markdown(headers: string[], rows: string[][], numeric = (i: number) => i >= 1): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (numeric(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}
