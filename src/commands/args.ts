import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../config/errors.js';

/** Strict parsing whose errors say what was expected (node:util's name only the offender). */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  usage: string,
  argv: string[],
  options: T,
) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options });
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const what = (error as Error).message.replace(/\.\s.*$/s, '');
      throw new ConfigError(`${command}: ${what}; expected ${usage} (see --help)`);
    }
    throw error;
  }
}

export function requireJobsPath(command: string, usage: string, path: string | undefined): string {
  if (path === undefined) {
    throw new ConfigError(
      `${command}: --jobs PATH is required; expected ${usage}, PATH a job file or a directory of *.json job files`,
    );
  }
  return path;
}
