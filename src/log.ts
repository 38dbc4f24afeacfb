import { pino, type DestinationStream, type Logger } from 'pino';
import { PRODUCT } from './config/product.js';

export type { DestinationStream, Logger };

/** stdout, each line written at once: a crash or process.exit loses none. */
export function standardOutput(): DestinationStream {
  return pino.destination({ sync: true });
}

/**
 * JSON lines on stdout. Connection strings and passwords are redacted wherever they appear
 * in a logged object; messages we build never include them in the first place.
 */
export function createLogger(level: string, destination: DestinationStream = standardOutput()): Logger {
  return pino(
    {
      name: PRODUCT,
      level,
      base: { pid: process.pid },
      redact: {
        paths: [
          'password',
          '*.password',
          'connectionString',
          '*.connectionString',
          'DATABASE_URL',
          '*.DATABASE_URL',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
