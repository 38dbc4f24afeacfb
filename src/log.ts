import { pino, type Logger } from 'pino';
import { PRODUCT } from './config/product.js';

export type { Logger };

/**
 * JSON lines on stdout. Connection strings and passwords are redacted wherever they appear
 * in a logged object; messages we build never include them in the first place.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
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
    destination ?? pino.destination({ sync: true }),
  );
}
