import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseStateKey, readShard, stateKey } from '../../src/config/shard.js';

describe('the shard a process takes (readShard)', () => {
  it('none without a count, or with a count of 1', () => {
    expect(readShard({}, {})).toBeUndefined();
    expect(readShard({}, { SHARD_COUNT: '1', SHARD_INDEX: '0' })).toBeUndefined();
    // Any Indexed Job's pods have JOB_COMPLETION_INDEX: alone it asks for nothing.
    expect(readShard({}, { JOB_COMPLETION_INDEX: '4' })).toBeUndefined();
  });

  it('options first, then SHARD_INDEX, then JOB_COMPLETION_INDEX', () => {
    const env = { SHARD_COUNT: '3', SHARD_INDEX: '1', JOB_COMPLETION_INDEX: '2' };
    expect(readShard({ shardIndex: '0' }, env)).toEqual({ index: 0, count: 3 });
    expect(readShard({}, env)).toEqual({ index: 1, count: 3 });
    expect(readShard({}, { SHARD_COUNT: '3', JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 2, count: 3 });
    expect(readShard({ shardCount: '4' }, env)).toEqual({ index: 1, count: 4 });
  });

  it.each([
    [{ shardIndex: '3', shardCount: '3' }, {}, /--shard-index: got "3"; expected a whole number from 0 to 2/],
    [
      {},
      { SHARD_INDEX: '-1', SHARD_COUNT: '2' },
      /SHARD_INDEX: got "-1"; expected a whole number from 0 to 1/,
    ],
    [{}, { SHARD_INDEX: '1' }, /SHARD_INDEX: got "1" without a shard count; expected SHARD_COUNT/],
    [{}, { SHARD_COUNT: '3' }, /SHARD_COUNT: got 3 shards but no shard index; expected SHARD_INDEX/],
    [{ shardCount: 'two' }, {}, /--shard-count: got "two"; expected a whole number of shards from 1 to 1024/],
    [{}, { SHARD_COUNT: '0', SHARD_INDEX: '0' }, /SHARD_COUNT: got "0"/],
    [
      {},
      { SHARD_COUNT: '2', JOB_COMPLETION_INDEX: '2' },
      /JOB_COMPLETION_INDEX: got "2"; expected .* 0 to 1/,
    ],
  ])('refuses %j %j', (options, env, message) => {
    expect(() => readShard(options, env)).toThrow(ConfigError);
    expect(() => readShard(options, env)).toThrow(message);
  });

  it('keeps each shard and count apart, and reads the key back', () => {
    expect(stateKey('orders', undefined)).toBe('orders');
    const key = stateKey('orders', { index: 2, count: 5 });
    expect(key).not.toBe(stateKey('orders', { index: 2, count: 6 }));
    expect(parseStateKey(key)).toEqual({ name: 'orders', shard: { index: 2, count: 5 } });
    expect(parseStateKey('orders')).toEqual({ name: 'orders', shard: undefined });
  });
});
