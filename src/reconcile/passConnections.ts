import type pg from 'pg';
import { APPLICATION_NAME } from '../config/product.js';
import { connect, type Connection } from '../db/connect.js';

/**
 * The two sessions of a pass: the scanner streams (a cursor blocks every other query on its
 * client), the writer holds the job's lease and commits the batches. No session state is
 * kept on either: each transaction sets the job's TimeZone and our formats for itself.
 */
export interface PassConnections {
  writer: Connection;
  scanner: Connection;
  close(): Promise<void>;
}

export async function openPassConnections(database: pg.ClientConfig): Promise<PassConnections> {
  const writer = await connect(database, APPLICATION_NAME.writer);
  let scanner: Connection | undefined;
  try {
    scanner = await connect(database, APPLICATION_NAME.scan);
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
