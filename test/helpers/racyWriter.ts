import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export const pick = (n: number): number => Math.floor(Math.random() * n);

/**
 * One writer of the race the tool exists for, until `until` (ms): "read the latest status,
 * insert if different" in a transaction that starts well before it inserts and commits late
 * (its now()-stamped row lands behind rows others committed meanwhile), and 20% blind inserts.
 */
export async function racyWrites(
  client: pg.Client,
  until: number,
  stats: { inserts: number },
  objects: number,
): Promise<void> {
  while (Date.now() < until) {
    const object = 1 + pick(objects);
    const status = 1 + pick(3);
    if (Math.random() < 0.2) {
      // Blind insert, no read, its own transaction.
      await client.query('INSERT INTO object_status (object_id, status_id) VALUES ($1, $2)', [
        object,
        status,
      ]);
      stats.inserts += 1;
      continue;
    }
    await client.query('BEGIN'); // now() is fixed here: the row's start_date
    await sleep(pick(25));
    const { rows } = await client.query<{ status_id: number }>(
      'SELECT status_id FROM object_status WHERE object_id = $1 ORDER BY start_date DESC, id DESC LIMIT 1',
      [object],
    );
    await sleep(pick(10));
    if (rows[0]?.status_id !== status) {
      await client.query('INSERT INTO object_status (object_id, status_id) VALUES ($1, $2)', [
        object,
        status,
      ]);
      stats.inserts += 1;
    }
    await sleep(pick(25)); // commit late
    await client.query('COMMIT');
  }
}
