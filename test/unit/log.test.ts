import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { ProgressReporter } from '../../src/reconcile/progress.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('logs', () => {
  it('redacts connection strings and passwords wherever they are logged', () => {
    const out = capture();
    const log = createLogger('info', out.stream);
    log.info(
      { connectionString: 'postgres://u:s3cret@db/app', password: 's3cret', db: { password: 's3cret' } },
      'connecting',
    );
    const text = JSON.stringify(out.lines());
    expect(text).not.toContain('s3cret');
    expect(text).toContain('[redacted]');
  });

  it('honours the level', () => {
    const out = capture();
    const log = createLogger('warn', out.stream);
    log.info('hidden');
    log.warn('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });

  it('reports progress at most once per interval, with rate and time left when the size is known', async () => {
    const out = capture();
    const progress = new ProgressReporter(createLogger('info', out.stream), 50, 1000);
    progress.maybeReport({ rowsExamined: 10, duplicatesFound: 1 }); // too soon
    expect(out.lines()).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    progress.maybeReport({ rowsExamined: 100, duplicatesFound: 5 });
    progress.maybeReport({ rowsExamined: 110, duplicatesFound: 5 }); // too soon again
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'progress', rowsExamined: 100, duplicatesFound: 5 });
    expect(lines[0]?.rowsPerSecond).toBeGreaterThan(0);
    expect(lines[0]?.estimatedSecondsLeft).toBeGreaterThan(0);
  });
});
