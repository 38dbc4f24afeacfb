import { describe, expect, it } from 'vitest';
import {
  compact,
  duration,
  endLine,
  runningLine,
  type RunningPass,
} from '../../src/terminal/progressLine.js';

const plain = { width: 80, colour: false };
// Built, not a literal: a control character in a regex literal is most often a mistake (no-control-regex).
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

function pass(fields: Partial<RunningPass> = {}): RunningPass {
  return {
    label: 'object-status',
    dryRun: false,
    elapsedSeconds: 12,
    scanSeconds: 10,
    counts: { rowsExamined: 400_000, duplicatesFound: 53_000, duplicatesRemoved: 50_000 },
    expectedRows: 1_000_000,
    frame: 0,
    ...fields,
  };
}

describe('the progress line', () => {
  it('before the scan: the job and the time since the pass started', () => {
    const line = runningLine(
      pass({ scanSeconds: undefined, counts: undefined, elapsedSeconds: 1.25 }),
      plain,
    );
    expect(line).toBe('⠋ object-status  starting… 1.2s');
  });

  it('while the server sorts (no rows yet): "sorting…" and its time, no bar and no 0%', () => {
    const line = runningLine(pass({ counts: undefined, scanSeconds: 75, frame: 3 }), plain);
    expect(line).toBe('⠸ object-status  sorting… 1m15s');
    expect(line).not.toContain('%');
  });

  it('with an estimate, wide: bar, percent, rows of the estimate, duplicates, rate and time left', () => {
    const line = runningLine(pass(), { width: 120, colour: false });
    // 400,000 rows in 10 s: 40,000 rows/s, 600,000 to go: 15 s.
    expect(line).toMatch(
      /^⠋ object-status \[█+░+\] {2}40% {2}400k\/~1\.00M rows · 53\.0k dups, 50\.0k removed · 40\.0k rows\/s · 15s left$/,
    );
    const cells = /\[([█░]+)\]/.exec(line)![1]!;
    expect([...cells].filter((c) => c === '█').length).toBe(Math.round(0.4 * [...cells].length));
  });

  it('on 80 columns: the compact form, still with a bar', () => {
    const line = runningLine(pass(), plain);
    expect(line).toMatch(
      /^⠋ object-status \[█+░+\] {2}40% 400k\/1\.00M rows 53\.0k dups 40\.0k\/s 15s left$/,
    );
    expect(/\[([█░]+)\]/.exec(line)![1]!.length).toBeGreaterThanOrEqual(10);
    expect([...line].length).toBeLessThanOrEqual(79);
  });

  it('a wide terminal gets a bar of at most 30 cells; the line never reaches the last column', () => {
    const wide = runningLine(pass(), { width: 200, colour: false });
    expect(/\[([█░]+)\]/.exec(wide)![1]).toHaveLength(30);
    for (const width of [20, 40, 60, 79, 80, 81, 100, 120]) {
      expect([...runningLine(pass(), { width, colour: false })].length).toBeLessThanOrEqual(width - 1);
      expect([...endLine('object-status', ended(), { width, colour: false })].length).toBeLessThanOrEqual(
        width - 1,
      );
    }
  });

  it('a narrow terminal: no bar, and the rest cut with an ellipsis', () => {
    const line = runningLine(pass(), { width: 40, colour: false });
    expect(line).not.toContain('[');
    expect(line).toBe('⠋ object-status  40% 400k/1.00M rows 5…');
    expect([...line]).toHaveLength(39);
  });

  it('past the estimate (reltuples is one): 100% at most, and the time left is unknown', () => {
    const line = runningLine(
      pass({ counts: { rowsExamined: 1_200_000, duplicatesFound: 0, duplicatesRemoved: 0 } }),
      plain,
    );
    expect(line).toContain(' 100% ');
    expect(line).toContain('? left');
    expect(line).not.toContain('░');
  });

  it('without an estimate (an incremental pass): no bar, no percent, the counts, time left "?"', () => {
    const line = runningLine(pass({ expectedRows: undefined }), plain);
    expect(line).toBe('⠋ object-status  400k rows · 53.0k dups, 50.0k removed · 40.0k rows/s · ? left');
    expect(runningLine(pass({ expectedRows: undefined }), { width: 60, colour: false })).toBe(
      '⠋ object-status 400k rows 53.0k dups 40.0k/s ? left',
    );
  });

  it('before any row is counted the rate is 0 and the time left "?"', () => {
    const line = runningLine(
      pass({
        counts: { rowsExamined: 0, duplicatesFound: 12_000, duplicatesRemoved: 10_000 },
        scanSeconds: 4,
      }),
      plain,
    );
    expect(line).toContain('   0% 0/1.00M rows 12.0k dups 0/s ? left');
    expect(
      runningLine(pass({ counts: { rowsExamined: 0, duplicatesFound: 12_000, duplicatesRemoved: 10_000 } }), {
        width: 120,
        colour: false,
      }),
    ).toContain('   0%  0/~1.00M rows · 12.0k dups, 10.0k removed · 0 rows/s · ? left');
  });

  it('a dry run says so instead of removals', () => {
    expect(runningLine(pass({ dryRun: true }), { width: 120, colour: false })).toContain(
      '53.0k dups (dry run)',
    );
  });

  it('colours only when asked, around the same text', () => {
    const coloured = runningLine(pass(), { width: 80, colour: true });
    expect(coloured).toMatch(ANSI);
    expect(coloured.replace(ANSI, '')).toBe(runningLine(pass(), plain));
    expect(runningLine(pass(), plain)).not.toContain('\x1b');
    expect(endLine('object-status', ended(), plain)).not.toContain('\x1b');
  });
});

function ended(fields: Partial<Parameters<typeof endLine>[1]> = {}): Parameters<typeof endLine>[1] {
  return {
    outcome: 'success',
    dryRun: false,
    rowsExamined: 1_000_000,
    duplicatesFound: 209_424,
    duplicatesRemoved: 209_424,
    durationSeconds: 7.04,
    ...fields,
  };
}

describe('the line a pass leaves', () => {
  it('success: every count in full, the time and the rate', () => {
    expect(endLine('object-status', ended(), { width: 100, colour: false })).toBe(
      '✓ object-status  1,000,000 rows · 209,424 dups, 209,424 removed · 7.0s (142k rows/s)',
    );
    // On 80 columns, without the rate.
    expect(endLine('object-status', ended(), plain)).toBe(
      '✓ object-status  1,000,000 rows · 209,424 dups, 209,424 removed · 7.0s',
    );
  });

  it('failure: marked and said, with what it did before', () => {
    expect(
      endLine(
        'object-status',
        ended({ outcome: 'failure', duplicatesRemoved: 5_000, durationSeconds: 3.2 }),
        { width: 100, colour: false },
      ),
    ).toBe('✗ object-status failed  1,000,000 rows · 209,424 dups, 5,000 removed · 3.2s (312k rows/s)');
  });

  it('skipped: the reason', () => {
    const reason =
      'another runner holds this job (its lease runs until 2026-12-01 10:00:00+00 unless renewed)';
    expect(
      endLine('object-status', ended({ outcome: 'skipped', reason }), { width: 200, colour: false }),
    ).toBe(`- object-status  skipped: ${reason}`);
  });

  it('a dry run: nothing removed', () => {
    expect(endLine('object-status', ended({ dryRun: true }), { width: 120, colour: false })).toContain(
      '209,424 dups (dry run: nothing removed)',
    );
  });
});

describe('formats', () => {
  it('durations as a person reads them', () => {
    expect([0, 0.42, 9.99, 10, 42, 59.6, 185, 3599, 7620, 360_000].map(duration)).toEqual([
      '0.0s',
      '0.4s',
      '9.9s',
      '10s',
      '42s',
      '1m00s',
      '3m05s',
      '59m59s',
      '2h07m',
      '100h00m',
    ]);
    expect([Number.NaN, Number.POSITIVE_INFINITY, -1].map(duration)).toEqual(['?', '?', '?']);
  });

  it('counts in at most four figures, never rounded up past what was counted', () => {
    expect(
      [0, 950, 9_500, 9_999, 10_000, 95_000, 999_999, 1_000_000, 9_509_000, 12_345_678, 2e9].map(compact),
    ).toEqual(['0', '950', '9,500', '9,999', '10.0k', '95.0k', '999k', '1.00M', '9.50M', '12.3M', '2.00G']);
  });
});
