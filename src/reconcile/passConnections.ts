import type pg from 'pg';
import type { Job } from '../config/job.js';
import { APPLICATION_NAME } from '../config/product.js';
import { connect, type Connection } from '../db/connect.js';
import { setTimeZoneStatement } from '../sql/catalog.js';

/**
 * The two sessions of a pass: the scanner streams (a cursor blocks every other query on its
 * client), the writer holds the job's lock and commits the batches. Both run in the job's
 * TimeZone, which gives `timestamp without time zone` and `date` values their meaning.
 */
export interface PassConnections {
  writer: Connection;
  scanner: Connection;
  close(): Promise<void>;
}

export async function openPassConnections(database: pg.ClientConfig, job: Job): Promise<PassConnections> {
  const writer = await connect(database, APPLICATION_NAME.writer);
  let scanner: Connection | undefined;
  try {
    scanner = await connect(database, APPLICATION_NAME.scan);
    if (job.timeZone !== undefined) {
      for (const c of [writer, scanner]) await c.client.query(setTimeZoneStatement(job.timeZone, false));
    }
  } catch (error) {
    await Promise.all([scanner?.close(), writer.close()]);
    throw error;
  }
  const opened = scanner;
  return {
    writer,
    scanner: opened,
    async close() {
      await Promise.all([opened.close(), writer.close()]);
    },
  };
}
