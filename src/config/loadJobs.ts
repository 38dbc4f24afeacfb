import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './errors.js';
import { parseJob, type Job } from './job.js';

function readJobFile(path: string): Job[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the job file (${(error as Error).message})`, {
      cause: error,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `${path}: not valid JSON (${(error as Error).message}); expected one job object or an array of them`,
      { cause: error },
    );
  }
  if (Array.isArray(raw)) {
    if (raw.length === 0) {
      throw new ConfigError(`${path}: the array holds no job; expected at least one job object`);
    }
    return raw.map((item, index) => parseJob(item, `${path}[${index}]`));
  }
  return [parseJob(raw, path)];
}

/**
 * Loads PATH (a job file, or a directory whose `*.json` files are read in name order),
 * then keeps the jobs named in `only` (all when empty). Throws ConfigError on any problem.
 */
export function loadJobs(path: string, only: readonly string[] = []): Job[] {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new ConfigError(
      `--jobs: "${path}" does not exist; expected a job file or a directory of *.json job files`,
    );
  }
  let jobs: Job[];
  if (stats.isDirectory()) {
    const files = readdirSync(path)
      .filter((f) => f.endsWith('.json'))
      .sort();
    if (files.length === 0) {
      throw new ConfigError(`--jobs: the directory "${path}" holds no *.json job file`);
    }
    jobs = files.flatMap((f) => readJobFile(join(path, f)));
  } else {
    jobs = readJobFile(path);
  }

  const seen = new Map<string, string>();
  for (const job of jobs) {
    const earlier = seen.get(job.name);
    if (earlier !== undefined) {
      throw new ConfigError(
        `${job.source}: job name "${job.name}" is already used by ${earlier}; expected unique names`,
      );
    }
    seen.set(job.name, job.source);
  }

  for (const name of only) {
    if (!seen.has(name)) {
      throw new ConfigError(
        `--job: no job named "${name}" in ${path}; expected one of ${[...seen.keys()].map((n) => `"${n}"`).join(', ')}`,
      );
    }
  }
  return only.length === 0 ? jobs : jobs.filter((j) => only.includes(j.name));
}
