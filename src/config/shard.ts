import { ConfigError } from './errors.js';

/**
 * One shard of every job: the objects whose key hashes to `index` of `count`
 * (src/sql/shard.ts). Several processes (the pods of a Kubernetes Indexed Job) each take one,
 * with a lease, checkpoint, run history and metrics series of its own.
 */
export interface Shard {
  index: number;
  count: number;
}

/** More shards than this is a typo, not a deployment: each is a process and a connection pair. */
export const MAX_SHARDS = 1024;

function whole(name: string, text: string, min: number, max: number, expected: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
    throw new ConfigError(`${name}: got "${text}"; expected ${expected}`);
  }
  return value;
}

/**
 * The shard this process takes, from --shard-index/--shard-count, else SHARD_INDEX/SHARD_COUNT;
 * the index defaults to JOB_COMPLETION_INDEX, which Kubernetes sets in each pod of an Indexed
 * Job, so that one needs no wrapper. No count, or a count of 1: no sharding (every object, and
 * the job's own state, as without shards). An index without a count is refused: it would
 * otherwise be ignored and every pod would take every object.
 */
export function readShard(
  options: { shardIndex?: string; shardCount?: string },
  env: NodeJS.ProcessEnv = process.env,
): Shard | undefined {
  const countText = options.shardCount ?? (env.SHARD_COUNT === '' ? undefined : env.SHARD_COUNT);
  const indexSource =
    options.shardIndex !== undefined
      ? ['--shard-index', options.shardIndex]
      : env.SHARD_INDEX !== undefined && env.SHARD_INDEX !== ''
        ? ['SHARD_INDEX', env.SHARD_INDEX]
        : env.JOB_COMPLETION_INDEX !== undefined && env.JOB_COMPLETION_INDEX !== ''
          ? ['JOB_COMPLETION_INDEX', env.JOB_COMPLETION_INDEX]
          : undefined;
  const countName = options.shardCount !== undefined ? '--shard-count' : 'SHARD_COUNT';
  if (countText === undefined) {
    // JOB_COMPLETION_INDEX alone is any Indexed Job's; only an explicit index asks for shards.
    if (indexSource !== undefined && indexSource[0] !== 'JOB_COMPLETION_INDEX') {
      throw new ConfigError(
        `${indexSource[0]}: got "${indexSource[1]}" without a shard count; expected SHARD_COUNT (or --shard-count) ` +
          `too, a whole number from 1 to ${MAX_SHARDS}`,
      );
    }
    return undefined;
  }
  const count = whole(
    countName,
    countText,
    1,
    MAX_SHARDS,
    `a whole number of shards from 1 to ${MAX_SHARDS}`,
  );
  if (indexSource === undefined) {
    if (count === 1) return undefined;
    throw new ConfigError(
      `${countName}: got ${count} shards but no shard index; expected SHARD_INDEX (or --shard-index, or ` +
        `JOB_COMPLETION_INDEX in a Kubernetes Indexed Job), a whole number from 0 to ${count - 1}`,
    );
  }
  const index = whole(
    indexSource[0] as string,
    indexSource[1] as string,
    0,
    count - 1,
    `a whole number from 0 to ${count - 1} (${countName} is ${count})`,
  );
  return count === 1 ? undefined : { index, count };
}

/** What follows a job's name in the state key of one of its shards (stateKey). */
export const SHARD_MARK = '#shard-';

/**
 * Under which name a job's state is kept (lease, checkpoint, totals, run history): its own
 * name, or one per shard and shard count. A run under another count finds no checkpoint of
 * its own and starts with a full pass: a checkpoint taken over another set of objects says
 * nothing about these.
 */
export function stateKey(name: string, shard: Shard | undefined): string {
  return shard === undefined ? name : `${name}${SHARD_MARK}${shard.index}-of-${shard.count}`;
}

/** The job name and shard a state key stands for (the inverse of stateKey). */
export function parseStateKey(key: string): { name: string; shard: Shard | undefined } {
  const match = /^(.*)#shard-(\d+)-of-(\d+)$/s.exec(key);
  if (!match) return { name: key, shard: undefined };
  return { name: match[1] as string, shard: { index: Number(match[2]), count: Number(match[3]) } };
}
