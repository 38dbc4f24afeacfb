import type { ClientConfig } from 'pg';
import { ConfigError } from './errors.js';

export interface Environment {
  /** node-postgres settings: DATABASE_URL when set, else libpq's PG* variables (read by pg itself). */
  database: ClientConfig;
  pushgatewayUrl: string | undefined;
  logLevel: string;
  metricsPort: number;
  /** Days of run history to keep (RUN_HISTORY_DAYS, default 30). */
  historyDays: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL: got "${logLevel}"; expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const portText = env.METRICS_PORT ?? '9464';
  const metricsPort = Number(portText);
  if (!/^\d+$/.test(portText) || metricsPort < 1 || metricsPort > 65535) {
    throw new ConfigError(`METRICS_PORT: got "${portText}"; expected a port number from 1 to 65535`);
  }
  const daysText = env.RUN_HISTORY_DAYS ?? '30';
  const historyDays = Number(daysText);
  if (!/^\d+$/.test(daysText) || historyDays < 1 || historyDays > 3650) {
    throw new ConfigError(
      `RUN_HISTORY_DAYS: got "${daysText}"; expected a whole number of days from 1 to 3650`,
    );
  }
  if (env.PUSHGATEWAY_URL) {
    let scheme = '';
    try {
      scheme = new URL(env.PUSHGATEWAY_URL).protocol;
    } catch {
      // reported below
    }
    if (scheme !== 'http:' && scheme !== 'https:') {
      throw new ConfigError(
        `PUSHGATEWAY_URL: got "${env.PUSHGATEWAY_URL}"; expected an http(s) URL such as http://pushgateway:9091`,
      );
    }
  }
  const url = env.DATABASE_URL;
  if (url !== undefined && url !== '') {
    try {
      new URL(url);
    } catch {
      throw new ConfigError(
        'DATABASE_URL: not a valid URL; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (value not shown: it may hold a password)',
      );
    }
  }
  const pushgatewayUrl = env.PUSHGATEWAY_URL === '' ? undefined : env.PUSHGATEWAY_URL;
  return {
    database: url ? { connectionString: url } : {},
    pushgatewayUrl,
    logLevel,
    metricsPort,
    historyDays,
  };
}
