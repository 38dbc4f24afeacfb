import type pg from 'pg';
import Cursor from 'pg-cursor';
import type { Connection } from '../db/connect.js';
import { openScanSnapshotStatements } from '../sql/scan.js';
import type { Statement } from '../sql/types.js';

/** One row of the scan, every value as the server's text (see scanStatement for the columns). */
export type ScanRow = (string | null)[];

// pg-cursor's advice is 100-1000 rows a read: fewer round trips, memory still flat.
const READ_ROWS = 1000;
const CURSOR_CLOSE_TIMEOUT_MS = 5000;

// Values come back as the server's text so that timestamps keep their microseconds and
// every type casts back exactly in the collapse statement.
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/**
 * The scan's rows, READ_ROWS at a time, from one read-only snapshot on the scanner, which
 * holds no other query meanwhile (a cursor blocks its client: node-postgres #1895). The
 * snapshot is released as soon as the loop over it ends, however it ends: it holds back
 * vacuum for as long as it is open.
 */
export async function* streamScan(
  scanner: Connection,
  statement: Statement,
  snapshot: { timeZone: string | undefined; full: boolean },
): AsyncGenerator<ScanRow[]> {
  try {
    for (const open of openScanSnapshotStatements(snapshot.timeZone, snapshot.full)) {
      await scanner.client.query(open);
    }
    const cursor = scanner.client.query(
      new Cursor<ScanRow>(statement.text, statement.values, { rowMode: 'array', types: RAW_TEXT }),
    );
    let failed = false;
    try {
      for (;;) {
        const rows = await cursor.read(READ_ROWS).catch((error: unknown) => {
          failed = true;
          throw error;
        });
        if (rows.length === 0) return;
        yield rows;
      }
    } finally {
      // A failed read ended the portal already; on a connection already gone (cut at the
      // run's deadline, or lost) there is nothing to close either, and close() would wait.
      if (!failed && scanner.failure === undefined) await closeCursor(cursor);
    }
  } finally {
    // Read-only: ending it either way only releases the snapshot.
    await scanner.client.query('ROLLBACK').catch(() => undefined);
  }
}

/** pg-cursor's close() may never settle after a lost connection (node-postgres #2588). */
async function closeCursor(cursor: Cursor<ScanRow>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    cursor.close().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CURSOR_CLOSE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
}
