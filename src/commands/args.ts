import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readEnvironment, type Environment } from '../config/environment.js';
import { ConfigError } from '../config/errors.js';
import type { Job } from '../config/job.js';
import { loadJobs } from '../config/loadJobs.js';
import { readShard } from '../config/shard.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict parsing whose errors say what was expected (node:util's name only the offender). */
export function parseCommandArgs<T extends Options>(
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

export const JOB_OPTIONS = {
  jobs: { type: 'string' },
  job: { type: 'string', multiple: true },
  'shard-index': { type: 'string' },
  'shard-count': { type: 'string' },
} as const satisfies Options;

/**
 * What every command over job files does first, in this order, each step throwing a
 * ConfigError (exit 2) before anything is changed: parse the arguments (--jobs, --job and
 * the command's own, which `validate` may check), require --jobs, read the environment
 * (and the shard: --shard-index/--shard-count, SHARD_INDEX/SHARD_COUNT), load the jobs.
 */
export function parseJobsCommand<T extends Options>(
  command: string,
  usage: string,
  argv: string[],
  options: T,
  validate?: (values: Record<string, unknown>) => void,
) {
  const { values } = parseCommandArgs(command, usage, argv, { ...JOB_OPTIONS, ...options });
  const common = values as { jobs?: string; job?: string[]; 'shard-index'?: string; 'shard-count'?: string };
  const path = requireJobsPath(command, usage, common.jobs);
  validate?.(values);
  const only = common.job ?? [];
  const env: Environment = readEnvironment();
  const shard = readShard({
    shardIndex: common['shard-index'],
    shardCount: common['shard-count'],
  });
  // Every job of the file, sharded alike: one pod of an Indexed Job takes its share of each.
  const jobs: Job[] = loadJobs(path, only).map((job) => (shard === undefined ? job : { ...job, shard }));
  return { values, path, only, env, jobs, shard };
}

/**
 * The one job a per-job command (`history`, `restore`) works on: `--job NAME` exactly once
 * (loadJobs has already refused a name that is not in the files).
 */
export function requireOneJob(command: string, usage: string, only: string[], jobs: Job[]): Job {
  const [job] = jobs;
  if (only.length !== 1 || job === undefined || jobs.length !== 1) {
    const got = only.length === 0 ? 'none' : only.map((n) => JSON.stringify(n)).join(', ');
    throw new ConfigError(
      `${command}: --job NAME is required exactly once; got ${got}; expected ${usage} (see --help)`,
    );
  }
  return job;
}
