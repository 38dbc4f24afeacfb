import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/db/connect.js';
import { createLogger } from '../../src/log.js';
import { RunTimeoutError, RunWatch } from '../../src/reconcile/runWatch.js';

function capture(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    stream,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** A connection whose query never answers until it is destroyed, as a stopped backend's. */
function stalledConnection(pid: number): Connection & { hang: () => Promise<never>; destroyed: string[] } {
  let cut: (error: Error) => void = () => undefined;
  const destroyed: string[] = [];
  const connection = {
    name: 'status-reconciler:scan',
    pid,
    serverVersion: 150000,
    failure: undefined as Error | undefined,
    destroyed,
    destroy(reason: string) {
      destroyed.push(reason);
      connection.failure ??= new Error(reason);
      cut(new Error('Connection terminated unexpectedly'));
    },
    async close() {},
    hang: () =>
      new Promise<never>((_, reject) => {
        cut = reject;
      }),
  };
  return connection as unknown as Connection & { hang: () => Promise<never>; destroyed: string[] };
}

describe('RunWatch', () => {
  it('warns while nothing moves, then at runTimeout cuts the connection waited on and names the stall', async () => {
    const out = capture();
    const watch = new RunWatch(createLogger('info', out.stream), 2);
    const scan = stalledConnection(4242);
    const writer = stalledConnection(4343);
    watch.guard({ scan, writer });
    const started = performance.now();
    const error = await watch.during('the scan', scan, () => scan.hang()).catch((e: unknown) => e);
    const seconds = (performance.now() - started) / 1000;
    watch.stop();

    expect(seconds).toBeGreaterThanOrEqual(1.9);
    expect(seconds).toBeLessThan(3);
    expect(scan.destroyed).toEqual(['cut at runTimeout (2s)']);
    expect(writer.destroyed).toEqual([]); // the writer still answers: it records the failure
    expect(watch.expired).toMatchObject({
      waitingFor: 'the scan',
      on: 'the scan connection, backend pid 4242',
    });
    expect(watch.connectionOf(error)).toBe(scan);

    const warning = out.lines().find((l) => l.level === 40 && String(l.msg).startsWith('no progress'));
    expect(warning).toMatchObject({
      msg: 'no progress for 1 s: waiting for the scan (the scan connection, backend pid 4242)',
      waitingFor: 'the scan',
      runTimeoutSeconds: 2,
    });
    const failure = watch.timeoutError(error);
    expect(failure).toBeInstanceOf(RunTimeoutError);
    expect(failure.message).toMatch(
      /^runTimeout \(2s\) reached after 2\.\d s, waiting for the scan \(the scan connection, backend pid 4242\) for 2\.\d s: /,
    );
    // After the deadline nothing new starts.
    await expect(watch.during('a batch', writer, async () => 1)).rejects.toBeInstanceOf(RunTimeoutError);
  });

  it('says nothing while waits keep ending, and leaves a pass that never unwinds', async () => {
    const out = capture();
    const watch = new RunWatch(createLogger('info', out.stream), 1);
    for (let i = 0; i < 6; i++) await watch.during('a batch', undefined, () => sleep(100));
    expect(out.lines()).toEqual([]);
    expect(watch.expired).toBeUndefined();
    const never = new Promise<string>(() => undefined);
    const started = performance.now();
    expect(await watch.bound(never, () => 'left behind')).toBe('left behind');
    expect((performance.now() - started) / 1000).toBeLessThan(1 + 3 + 1);
    expect(watch.expired?.waitingFor).toBe('the pass (busy on the client)');
    watch.stop();
  });
});
