/*
 * The demo's data: 16 writers run the naive "read the latest status, insert if different"
 * transaction with no lock, so racing writers leave consecutive duplicates (A, A, B).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { TABLE, newClient } from './database.js';

export const WRITERS = 16;
export const OBJECTS = 50;
const STATUSES = 4;
/** Most events move an object to the next status of its workflow, so racing writers agree. */
const NEXT_STATUS_BIAS = 0.75;
const MAX_THINK_MS = 4;

export interface WriterStats {
  transactions: number;
  rowsWritten: number;
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** The status an incoming event carries, given the latest status the writer read. */
function eventStatus(latest: number | undefined): number {
  if (latest === undefined) return 1;
  return Math.random() < NEXT_STATUS_BIAS ? (latest % STATUSES) + 1 : randomInt(1, STATUSES);
}

/**
 * The naive writer, as applications write it: no lock, no retry. Two writers that read the
 * same latest row both insert; the think time widens the window as real work would.
 */
async function runWriter(
  client: pg.Client,
  deadline: number,
  stats: WriterStats,
  stop: { requested: boolean },
): Promise<void> {
  while (Date.now() < deadline && !stop.requested) {
    const objectId = randomInt(1, OBJECTS);
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ status_id: number | null }>(
        `SELECT status_id FROM ${TABLE} WHERE object_id = $1 ORDER BY start_date DESC, id DESC LIMIT 1`,
        [objectId],
      );
      const latest = rows[0]?.status_id ?? undefined;
      const wanted = eventStatus(latest);
      await sleep(randomInt(0, MAX_THINK_MS));
      const insert = rows.length === 0 || wanted !== latest;
      if (insert) {
        await client.query(`INSERT INTO ${TABLE} (object_id, status_id) VALUES ($1, $2)`, [objectId, wanted]);
      }
      await client.query('COMMIT');
      stats.transactions += 1;
      if (insert) stats.rowsWritten += 1;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}

/** WRITERS writers, each on its own connection, for `seconds`; their connections end with it. */
export async function runWriters(url: string, seconds: number): Promise<WriterStats> {
  const clients = Array.from({ length: WRITERS }, (_, i) => newClient(url, `demo-writer-${i + 1}`));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    const stats: WriterStats = { transactions: 0, rowsWritten: 0 };
    const stop = { requested: false };
    const deadline = Date.now() + seconds * 1000;
    const outcomes = await Promise.allSettled(
      clients.map((c) =>
        runWriter(c, deadline, stats, stop).catch((error: unknown) => {
          stop.requested = true; // one writer failing stops the others at their next loop
          throw error;
        }),
      ),
    );
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw new Error('a demo writer failed', { cause: failure.reason });
    return stats;
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}
