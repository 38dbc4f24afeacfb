import pg from 'pg';
import type { JobPlan } from '../db/plan.js';
import { ident, qualified } from '../db/quote.js';
import { backwardShiftsStatement, type BackwardShiftRow } from '../sql/timeZone.js';
import { ok, warn, type Finding } from './finding.js';

/** How far ahead, and how finely, a zone's rules are read. */
const AHEAD_DAYS = 366;
const STEP_MINUTES = 15;

/** 3600 → "1 h", 1800 → "30 min", 5400 → "1 h 30 min", 30 → "30 s". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.round((seconds % 3600) / 60);
  return [hours > 0 ? `${hours} h` : '', minutes > 0 ? `${minutes} min` : ''].filter(Boolean).join(' ');
}

interface Shift {
  atUtc: string;
  repeatFrom: string;
  repeatTo: string;
  seconds: number;
}

function shifts(rows: BackwardShiftRow[]): Shift[] {
  return rows.flatMap((r) =>
    r.atUtc !== null && r.repeatFrom !== null && r.repeatTo !== null && r.shiftSeconds !== null
      ? [{ atUtc: r.atUtc, repeatFrom: r.repeatFrom, repeatTo: r.repeatTo, seconds: r.shiftSeconds }]
      : [],
  );
}

/** The fix: store the moment itself, or write in a zone whose clocks never go back. */
function fixLines(plan: JobPlan, zone: string): string[] {
  const column = ident(plan.time.name);
  const precision = /\((\d+)\)/.exec(plan.time.type)?.[1];
  const type = precision === undefined ? 'timestamptz' : `timestamptz(${precision})`;
  return [
    '-- store the moment itself (rewrites the table under an ACCESS EXCLUSIVE lock; a value in a',
    '-- repeated time is read as the later of its two moments; the next run is a full pass):',
    `ALTER TABLE ${qualified(plan.job.table)} ALTER COLUMN ${column} TYPE ${type} ` +
      `USING ${column} AT TIME ZONE ${pg.escapeLiteral(zone)};`,
    '-- or have every writer use a zone without daylight saving (UTC) and set the job\'s "timeZone" to it',
  ];
}

function localTimeFinding(plan: JobPlan, rows: BackwardShiftRow[]): Finding {
  const zone = rows[0]?.zone ?? plan.job.timeZone ?? 'the session TimeZone';
  const source =
    plan.job.timeZone === undefined
      ? `the database's default TimeZone, as check's session gets it; set the job's "timeZone" if writers use another`
      : `the job's "timeZone"`;
  const head = `${plan.time.name} (${plan.time.type}) holds local times of ${zone} (${source})`;
  const found = shifts(rows);
  if (found.length === 0) {
    return ok(`${head}: its clocks do not go back within the next year`);
  }
  const when = found
    .map((s) => `for ${formatDuration(s.seconds)} at ${s.atUtc} UTC (${s.repeatFrom} to ${s.repeatTo} local)`)
    .join(', and ');
  const largest = Math.max(...found.map((s) => s.seconds));
  const settle = plan.job.settleSeconds;
  const settleNote =
    settle < largest
      ? ` settleSeconds (${formatDuration(settle)}) is below the largest backward shift ` +
        `(${formatDuration(largest)}): it does not cover the repeat by itself; the horizon's zone rule does.`
      : '';
  return warn(
    `${head}, whose clocks go back within the next year: local times repeat ${when}. ` +
      'Rows written in a repeated time sort out of their real order, and the horizon stays up to about ' +
      `${formatDuration(largest)} behind around each change (rows written just before it wait until ` +
      `the repeated time has passed).${settleNote}`,
    fixLines(plan, zone),
  );
}

function dateFinding(plan: JobPlan): Finding {
  const head = `${plan.time.name} (date)`;
  if (plan.job.timeZone === undefined) {
    return ok(
      `${head}: the horizon is the date in UTC-14 (the earliest date of any real zone, even with its sign mistyped) of the UTC horizon, ` +
        'right whatever real zone writers use (a session set further west, down to the -167 h PostgreSQL accepts, needs the job\'s "timeZone"); ' +
        'it settles a day at a time, up to about a day and a half behind UTC',
    );
  }
  return ok(
    `${head}: the horizon is the lowest date in ${plan.job.timeZone} (the job's "timeZone") from the ` +
      `UTC horizon on; writers' current_date must be taken in that zone`,
  );
}

/**
 * What the first orderBy column's type makes of time: for `timestamp without time zone`,
 * the zone in force (the job's timeZone, named in the SQL since check's session does not
 * set it, else the session's default) and the times within the next year when its clocks
 * go back; for `date`, how the date horizon is taken. Nothing for `timestamptz`.
 */
export async function timeFindings(client: pg.ClientBase, plan: JobPlan): Promise<Finding[]> {
  if (plan.timeType === 'date') return [dateFinding(plan)];
  if (plan.timeType !== 'timestamp') return [];
  const { rows } = await client.query<BackwardShiftRow>(
    backwardShiftsStatement(plan.job.timeZone, AHEAD_DAYS, STEP_MINUTES),
  );
  return [localTimeFinding(plan, rows)];
}
