import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { readEnvironment } from '../../src/config/environment.js';
import { JOB_DEFAULTS, parseJob } from '../../src/config/job.js';
import { loadJobs } from '../../src/config/loadJobs.js';

const SOURCE = 'jobs/object-status.json';
const LABEL = `${SOURCE} (job "object-status")`;

/** The smallest valid job: only the required fields. */
function minimal(): Record<string, unknown> {
  return {
    name: 'object-status',
    table: 'public.object_status',
    key: ['object_id'],
    orderBy: ['start_date', 'id'],
    compare: ['status_id'],
  };
}

function parseWith(fields: Record<string, unknown>): ReturnType<typeof parseJob> {
  return parseJob({ ...minimal(), ...fields }, SOURCE);
}

/** Runs fn, expects a ConfigError, and returns its message for more checks. */
function configError(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a ConfigError, nothing was thrown').toBeInstanceOf(ConfigError);
  return (caught as ConfigError).message;
}

/** Expects a ConfigError whose message names every one of `parts`. */
function expectConfigError(fn: () => unknown, parts: string[]): void {
  const message = configError(fn);
  for (const part of parts) expect(message).toContain(part);
}

describe('parseJob: defaults and accepted values', () => {
  it('fills every default for a minimal job', () => {
    const job = parseJob(minimal(), SOURCE);
    expect(job).toEqual({
      name: 'object-status',
      table: { schema: 'public', name: 'object_status' },
      key: ['object_id'],
      orderBy: ['start_date', 'id'],
      compare: ['status_id'],
      mode: 'delete',
      archiveTable: undefined,
      settleSeconds: 30,
      schedule: '*/5 * * * *',
      batchSize: 5000,
      timeZone: undefined,
      fullEverySeconds: 86400,
      runTimeoutSeconds: 3600,
      lockTimeoutMs: 2000,
      batchPauseMs: 0,
      statementTimeoutMs: 30000,
      source: LABEL,
    });
    expect(JOB_DEFAULTS).toEqual({
      mode: 'delete',
      settleSeconds: 30,
      schedule: '*/5 * * * *',
      batchSize: 5000,
      fullEvery: '24h',
      runTimeout: '1h',
      lockTimeoutMs: 2000,
      batchPauseMs: 0,
      statementTimeoutMs: 30000,
    });
  });

  it('accepts the job of the design brief, every field set', () => {
    const job = parseJob(
      {
        name: 'object-status',
        description: 'statuses of objects',
        table: 'public.object_status',
        key: ['object_id'],
        orderBy: ['start_date', 'id'],
        compare: ['status_id'],
        mode: 'archive',
        archiveTable: 'public.object_status_archive',
        settleSeconds: 45,
        schedule: '0 * * * *',
        batchSize: 100,
        timeZone: 'Europe/Paris',
        fullEvery: '6h',
        runTimeout: '30m',
        lockTimeoutMs: 500,
        statementTimeoutMs: 10000,
      },
      SOURCE,
    );
    expect(job.fullEverySeconds).toBe(6 * 3600);
    expect(job.runTimeoutSeconds).toBe(30 * 60);
    expect(job.mode).toBe('archive');
    expect(job.archiveTable).toEqual({ schema: 'public', name: 'object_status_archive' });
    expect(job.settleSeconds).toBe(45);
    expect(job.schedule).toBe('0 * * * *');
    expect(job.batchSize).toBe(100);
    expect(job.timeZone).toBe('Europe/Paris');
    expect(job.lockTimeoutMs).toBe(500);
    expect(job.statementTimeoutMs).toBe(10000);
  });

  it('takes names literally and case-sensitively; a bare table is looked up in public', () => {
    expect(parseWith({ table: 'Sales.OrderStatus' }).table).toEqual({ schema: 'Sales', name: 'OrderStatus' });
    expect(parseWith({ table: 'object_status' }).table).toEqual({ schema: 'public', name: 'object_status' });
    expect(parseWith({ table: '_t$1' }).table).toEqual({ schema: 'public', name: '_t$1' });
    expect(parseWith({ key: ['TenantId', 'ObjectId'] }).key).toEqual(['TenantId', 'ObjectId']);
  });

  it('accepts names of exactly 63 characters and job names of 63', () => {
    const long = 'a'.repeat(63);
    expect(parseWith({ table: `${long}.${long}` }).table).toEqual({ schema: long, name: long });
    expect(parseWith({ name: `j${'x'.repeat(62)}` }).name).toHaveLength(63);
  });

  it('accepts the bounds of every number', () => {
    expect(parseWith({ settleSeconds: 0 }).settleSeconds).toBe(0);
    expect(parseWith({ settleSeconds: 86400 }).settleSeconds).toBe(86400);
    expect(parseWith({ batchSize: 1 }).batchSize).toBe(1);
    expect(parseWith({ batchSize: 100000 }).batchSize).toBe(100000);
    expect(parseWith({ lockTimeoutMs: 1 }).lockTimeoutMs).toBe(1);
    expect(parseWith({ lockTimeoutMs: 60000 }).lockTimeoutMs).toBe(60000);
    expect(parseWith({ statementTimeoutMs: 1 }).statementTimeoutMs).toBe(1);
    expect(parseWith({ statementTimeoutMs: 3600000 }).statementTimeoutMs).toBe(3600000);
  });

  it.each([
    ['24h', 86400],
    ['30m', 1800],
    ['3s', 3],
    ['1s', 1],
    ['7d', 7 * 86400],
    ['365d', 365 * 86400],
    ['8760h', 365 * 86400],
    ['90m', 5400],
  ])('accepts fullEvery %j (%i seconds)', (fullEvery, seconds) => {
    expect(parseWith({ fullEvery }).fullEverySeconds).toBe(seconds);
  });

  it.each([
    ['1h', 3600],
    ['30m', 1800],
    ['3s', 3],
    ['1s', 1],
    ['7d', 7 * 86400],
    ['168h', 7 * 86400],
    ['90m', 5400],
  ])('accepts runTimeout %j (%i seconds)', (runTimeout, seconds) => {
    expect(parseWith({ runTimeout }).runTimeoutSeconds).toBe(seconds);
  });

  it('accepts several key, orderBy and compare columns', () => {
    const job = parseWith({
      key: ['tenant', 'object_id'],
      orderBy: ['start_date', 'seq', 'id'],
      compare: ['a', 'b'],
    });
    expect(job.key).toEqual(['tenant', 'object_id']);
    expect(job.orderBy).toEqual(['start_date', 'seq', 'id']);
    expect(job.compare).toEqual(['a', 'b']);
  });
});

describe('parseJob: rejections name the file, the field, the value and what was expected', () => {
  it.each([[null], [[]], ['a job'], [42], [true]])('rejects a job that is not an object: %j', (raw) => {
    expectConfigError(() => parseJob(raw, SOURCE), [SOURCE, 'JSON object', JSON.stringify(raw)]);
  });

  it('rejects an unknown field, naming it and the allowed ones', () => {
    expectConfigError(
      () => parseWith({ tabel: 'public.x' }),
      [SOURCE, 'unknown field "tabel"', 'expected only', 'archiveTable', 'settleSeconds'],
    );
  });

  it('rejects a field whose case differs (names are case-sensitive)', () => {
    const raw = minimal();
    raw.OrderBy = raw.orderBy;
    expectConfigError(() => parseJob(raw, SOURCE), [SOURCE, 'unknown field "OrderBy"']);
  });

  it.each([
    ['missing', undefined, 'nothing (the field is missing)'],
    ['empty', '', '""'],
    ['not a string', 7, '7'],
    ['with a space', 'object status', '"object status"'],
    ['with a slash', 'a/b', '"a/b"'],
    ['starting with a dash', '-x', '"-x"'],
    ['64 characters long', 'j'.repeat(64), `"${'j'.repeat(64)}"`],
  ])('rejects a job name %s', (_label, name, shown) => {
    const raw = { ...minimal(), name };
    if (name === undefined) delete raw.name;
    expectConfigError(() => parseJob(raw, SOURCE), [SOURCE, '"name"', `got ${shown}`, 'expected a job name']);
  });

  it('rejects a description that is not a string', () => {
    expectConfigError(
      () => parseWith({ description: ['x'] }),
      [LABEL, '"description"', '["x"]', 'expected a string'],
    );
  });

  describe('table', () => {
    const expected = 'expected "schema.table" or "table"';

    it('rejects a missing table', () => {
      const raw = minimal();
      delete raw.table;
      expectConfigError(
        () => parseJob(raw, SOURCE),
        [LABEL, '"table"', 'nothing (the field is missing)', expected],
      );
    });

    it.each([
      ['SQL after a semicolon', 'public.t; DROP TABLE x'],
      ['a comment', 'public.t--'],
      ['double quotes', '"public"."t"'],
      ['a quote inside', 'public.t"x'],
      ['a single quote', "public.t'x"],
      ['a space', 'public.object status'],
      ['a leading space', ' public.object_status'],
      ['a parenthesis', 'public.t()'],
      ['three parts', 'db.public.object_status'],
      ['an empty schema', '.object_status'],
      ['an empty table', 'public.'],
      ['a leading digit', 'public.1t'],
      ['a dash', 'public.object-status'],
      ['a non-ASCII letter', 'public.tâble'],
      ['64 characters', `public.${'t'.repeat(64)}`],
      ['nothing at all', ''],
    ])('rejects a table name with %s', (_label, table) => {
      expectConfigError(
        () => parseWith({ table }),
        [LABEL, '"table"', `got ${JSON.stringify(table)}`, expected, 'no SQL quoting'],
      );
    });

    it.each([[42], [null], [['public', 'object_status']], [{ schema: 'public', name: 't' }]])(
      'rejects a table that is not a string: %j',
      (table) => {
        expectConfigError(
          () => parseWith({ table }),
          [LABEL, '"table"', `got ${JSON.stringify(table)}`, expected],
        );
      },
    );
  });

  describe.each(['key', 'orderBy', 'compare'])('column list "%s"', (field) => {
    const expected = 'expected a non-empty array of distinct column names';

    it('rejects it missing', () => {
      const raw = minimal();
      delete raw[field];
      expectConfigError(
        () => parseJob(raw, SOURCE),
        [LABEL, `"${field}"`, 'nothing (the field is missing)', expected],
      );
    });

    it.each([
      ['an empty array', []],
      ['a string, not an array', 'object_id'],
      ['a number inside', ['x', 3]],
      ['null', null],
      ['a duplicate column', ['c1', 'c1']],
      ['SQL after a semicolon', ['c1; DROP TABLE x']],
      ['a closing quote', ['c1") IS NULL OR true --']],
      ['a space', ['object id']],
      ['a qualified column', ['t.c1']],
      ['64 characters', ['c'.repeat(64)]],
    ])('rejects %s', (_label, value) => {
      expectConfigError(
        () => parseWith({ [field]: value }),
        [LABEL, `"${field}"`, `got ${JSON.stringify(value)}`, expected, 'no SQL quoting'],
      );
    });
  });

  it.each([
    ['key and compare', { key: ['object_id'], compare: ['object_id'] }, 'compare', 'key', 'object_id'],
    ['orderBy and compare', { compare: ['start_date'] }, 'compare', 'orderBy', 'start_date'],
    ['key and orderBy', { key: ['id'] }, 'orderBy', 'key', 'id'],
  ])(
    'rejects a column shared by %s, naming both fields and the column',
    (_label, fields, field, earlier, column) => {
      expectConfigError(
        () => parseWith(fields),
        [LABEL, `invalid "${field}"`, `"${earlier}"`, `"${column}" is in both`, 'share no column'],
      );
    },
  );

  describe('mode and archiveTable', () => {
    it.each([['purge'], ['Delete'], ['ARCHIVE'], [''], [1], [null]])('rejects mode %j', (mode) => {
      expectConfigError(
        () => parseWith({ mode }),
        [LABEL, '"mode"', `got ${JSON.stringify(mode)}`, 'expected "delete" or "archive"'],
      );
    });

    it('rejects archive mode without archiveTable', () => {
      expectConfigError(
        () => parseWith({ mode: 'archive' }),
        [
          LABEL,
          '"archiveTable"',
          'nothing (the field is missing)',
          'expected a table name when "mode" is "archive"',
        ],
      );
    });

    it('rejects an archiveTable that is the table itself, however it is spelled', () => {
      for (const archiveTable of ['public.object_status', 'object_status']) {
        expectConfigError(
          () => parseWith({ mode: 'archive', archiveTable }),
          [LABEL, '"archiveTable"', JSON.stringify(archiveTable), 'expected a table other than "table"'],
        );
      }
    });

    it.each([['public.a; DROP TABLE x'], ['a.b.c'], ['"quoted"'], [5], [null]])(
      'rejects archiveTable %j',
      (archiveTable) => {
        expectConfigError(
          () => parseWith({ mode: 'archive', archiveTable }),
          [LABEL, '"archiveTable"', `got ${JSON.stringify(archiveTable)}`, 'expected "schema.table"'],
        );
      },
    );

    it('rejects an archiveTable in delete mode, explicit or by default', () => {
      for (const fields of [{ archiveTable: 'public.a' }, { mode: 'delete', archiveTable: 'public.a' }]) {
        expectConfigError(
          () => parseWith(fields),
          [LABEL, '"archiveTable"', '"public.a"', 'no archiveTable when "mode" is "delete"'],
        );
      }
    });

    it('qualifies a bare archiveTable with public', () => {
      expect(parseWith({ mode: 'archive', archiveTable: 'arch' }).archiveTable).toEqual({
        schema: 'public',
        name: 'arch',
      });
    });
  });

  describe.each([
    ['settleSeconds', 0, 86400],
    ['batchSize', 1, 100000],
    ['lockTimeoutMs', 1, 60000],
    ['batchPauseMs', 0, 60000],
    ['statementTimeoutMs', 1, 3600000],
  ])('%s', (field, min, max) => {
    it.each([[min - 1], [max + 1], [1.5], [String(min + 1)], [null], [true]])('rejects %j', (value) => {
      expectConfigError(
        () => parseWith({ [field]: value }),
        [
          LABEL,
          `"${field}"`,
          `got ${JSON.stringify(value)}`,
          `expected a whole number from ${min} to ${max}`,
        ],
      );
    });
  });

  it.each([['every 5 minutes'], ['* * *'], ['61 * * * *'], [''], [5], [null]])(
    'rejects schedule %j',
    (schedule) => {
      expectConfigError(
        () => parseWith({ schedule }),
        [LABEL, '"schedule"', `got ${JSON.stringify(schedule)}`, 'expected a cron expression'],
      );
    },
  );

  it.each([["UTC'; SET role postgres; --"], ['Europe Paris'], [''], [3], [null]])(
    'rejects timeZone %j',
    (timeZone) => {
      expectConfigError(
        () => parseWith({ timeZone }),
        [LABEL, '"timeZone"', `got ${JSON.stringify(timeZone)}`, 'expected a PostgreSQL time zone name'],
      );
    },
  );

  it.each([
    ['24'],
    ['1.5h'],
    ['0s'],
    ['0d'],
    ['-1h'],
    ['366d'],
    ['8761h'],
    ['24 h'],
    [' 24h'],
    ['24H'],
    ['1h30m'],
    ['24hours'],
    ['h'],
    ['1w'],
    [''],
    [24],
    [86400],
    [null],
    [true],
    [['24h']],
  ])('rejects fullEvery %j, naming the field, the value and the form expected', (fullEvery) => {
    expectConfigError(
      () => parseWith({ fullEvery }),
      [
        LABEL,
        'invalid "fullEvery"',
        `got ${JSON.stringify(fullEvery)}`,
        'expected a duration',
        '"24h"',
        's, m, h or d',
        '365d',
      ],
    );
  });

  it.each([
    ['1'],
    ['0s'],
    ['-1h'],
    ['8d'],
    ['169h'],
    ['10081m'],
    ['1.5h'],
    ['1h30m'],
    ['1H'],
    [' 1h'],
    [''],
    [3600],
    [null],
    [false],
    [['1h']],
  ])('rejects runTimeout %j, naming the field, the value and the form expected', (runTimeout) => {
    expectConfigError(
      () => parseWith({ runTimeout }),
      [
        LABEL,
        'invalid "runTimeout"',
        `got ${JSON.stringify(runTimeout)}`,
        'expected a duration',
        'from 1s to 7d',
      ],
    );
  });

  it('shortens a huge value in the message', () => {
    const message = configError(() => parseWith({ table: 'x'.repeat(5000) }));
    expect(message.length).toBeLessThan(1000);
    expect(message).toContain('"table"');
  });
});

describe('loadJobs', () => {
  let root: string;
  let counter = 0;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'sr-config-'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  /** A fresh directory under root holding `files` (name -> content; objects are JSON-encoded). */
  function dirWith(files: Record<string, unknown>): string {
    counter += 1;
    const dir = join(root, `case-${counter}`);
    mkdirSync(dir);
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    }
    return dir;
  }

  function job(name: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
    return { ...minimal(), name, ...fields };
  }

  it('loads one job object from a file, labelled with the file', () => {
    const dir = dirWith({ 'one.json': job('a') });
    const file = join(dir, 'one.json');
    const jobs = loadJobs(file);
    expect(jobs.map((j) => j.name)).toEqual(['a']);
    expect(jobs[0]?.source).toBe(`${file} (job "a")`);
  });

  it('loads an array of jobs from a file, labelled with the index', () => {
    const dir = dirWith({ 'many.json': [job('a'), job('b')] });
    const file = join(dir, 'many.json');
    const jobs = loadJobs(file);
    expect(jobs.map((j) => j.name)).toEqual(['a', 'b']);
    expect(jobs[1]?.source).toBe(`${file}[1] (job "b")`);
  });

  it('accepts a job file whose name does not end in .json when named directly', () => {
    const dir = dirWith({ 'job.conf': job('a') });
    expect(loadJobs(join(dir, 'job.conf')).map((j) => j.name)).toEqual(['a']);
  });

  it('reads a directory: only *.json, in name order, arrays flattened', () => {
    const dir = dirWith({
      'c.json': job('from-c'),
      'a.json': [job('from-a-0'), job('from-a-1')],
      'README.md': 'not a job',
      'b.json.bak': 'not json at all {',
      'b.json': job('from-b'),
      '10.json': job('from-10'),
    });
    // Name order is code-unit order: "10.json" sorts before "a.json".
    expect(loadJobs(dir).map((j) => j.name)).toEqual(['from-10', 'from-a-0', 'from-a-1', 'from-b', 'from-c']);
  });

  it('rejects a path that does not exist, naming --jobs, the path and what was expected', () => {
    const missing = join(root, 'no-such-file.json');
    expectConfigError(
      () => loadJobs(missing),
      ['--jobs', `"${missing}"`, 'does not exist', 'expected a job file or a directory'],
    );
  });

  it('rejects a directory without *.json files', () => {
    const dir = dirWith({ 'README.md': '# nothing' });
    expectConfigError(() => loadJobs(dir), ['--jobs', `"${dir}"`, 'no *.json job file']);
  });

  it('rejects malformed JSON, naming the file and what was expected', () => {
    const dir = dirWith({ 'bad.json': '{ "name": "a", ' });
    const file = join(dir, 'bad.json');
    expectConfigError(
      () => loadJobs(file),
      [file, 'not valid JSON', 'expected one job object or an array of them'],
    );
  });

  it('names the malformed file of a directory', () => {
    const dir = dirWith({ 'a.json': job('a'), 'b.json': "{ 'single': 'quotes' }" });
    expectConfigError(() => loadJobs(dir), [join(dir, 'b.json'), 'not valid JSON']);
  });

  it('rejects an empty array', () => {
    const dir = dirWith({ 'empty.json': [] });
    const file = join(dir, 'empty.json');
    expectConfigError(() => loadJobs(file), [file, 'no job', 'expected at least one job object']);
  });

  it('names the file, index and job of an invalid job in an array', () => {
    const dir = dirWith({ 'many.json': [job('a'), job('b', { mode: 'purge' })] });
    const file = join(dir, 'many.json');
    expectConfigError(
      () => loadJobs(file),
      [`${file}[1] (job "b")`, '"mode"', '"purge"', 'expected "delete" or "archive"'],
    );
  });

  it('rejects a non-object element of an array, naming its index', () => {
    const dir = dirWith({ 'many.json': [job('a'), 'b'] });
    const file = join(dir, 'many.json');
    expectConfigError(() => loadJobs(file), [`${file}[1]`, 'JSON object', '"b"']);
  });

  it('rejects duplicate job names across files, naming both places', () => {
    const dir = dirWith({ 'a.json': job('same'), 'b.json': job('same') });
    expectConfigError(
      () => loadJobs(dir),
      [join(dir, 'a.json'), join(dir, 'b.json'), 'job name "same"', 'expected unique names'],
    );
  });

  it('rejects duplicate job names in one array', () => {
    const dir = dirWith({ 'many.json': [job('same'), job('other'), job('same')] });
    const file = join(dir, 'many.json');
    expectConfigError(
      () => loadJobs(file),
      [`${file}[2]`, `${file}[0]`, 'job name "same"', 'expected unique names'],
    );
  });

  it('selects jobs by --job, keeping file order', () => {
    const dir = dirWith({ 'a.json': [job('a1'), job('a2')], 'b.json': job('b1') });
    expect(loadJobs(dir, ['b1', 'a1']).map((j) => j.name)).toEqual(['a1', 'b1']);
    expect(loadJobs(dir, []).map((j) => j.name)).toEqual(['a1', 'a2', 'b1']);
  });

  it('rejects --job naming an unknown job, listing the known ones', () => {
    const dir = dirWith({ 'a.json': [job('a1'), job('a2')] });
    expectConfigError(
      () => loadJobs(dir, ['a1', 'nope']),
      ['--job', '"nope"', dir, 'expected one of "a1", "a2"'],
    );
  });

  it('still validates jobs that --job does not select', () => {
    const dir = dirWith({ 'a.json': [job('a1'), job('a2', { batchSize: 0 })] });
    expectConfigError(() => loadJobs(dir, ['a1']), ['(job "a2")', '"batchSize"', 'got 0']);
  });
});

describe('readEnvironment', () => {
  it('defaults', () => {
    const env = readEnvironment({});
    expect(env).toEqual({
      database: {},
      pushgatewayUrl: undefined,
      logLevel: 'info',
      metricsPort: 9464,
      historyDays: 30,
    });
  });

  it.each([['0'], ['x'], ['3651']])('rejects RUN_HISTORY_DAYS %j', (days) => {
    expectConfigError(
      () => readEnvironment({ RUN_HISTORY_DAYS: days }),
      ['RUN_HISTORY_DAYS', `"${days}"`, 'expected'],
    );
  });

  it('rejects a PUSHGATEWAY_URL that is not http(s)', () => {
    expectConfigError(
      () => readEnvironment({ PUSHGATEWAY_URL: 'pushgateway:9091' }),
      ['PUSHGATEWAY_URL', 'pushgateway:9091', 'expected an http(s) URL'],
    );
  });

  it('takes DATABASE_URL as the connection string', () => {
    const url = 'postgres://u:pw@db:5432/app';
    expect(readEnvironment({ DATABASE_URL: url }).database).toEqual({ connectionString: url });
  });

  it.each([['loud'], ['INFO']])('rejects LOG_LEVEL %j', (level) => {
    expectConfigError(
      () => readEnvironment({ LOG_LEVEL: level }),
      ['LOG_LEVEL', `"${level}"`, 'expected one of'],
    );
  });

  it.each([['0'], ['65536'], ['80a'], ['']])('rejects METRICS_PORT %j', (port) => {
    expectConfigError(
      () => readEnvironment({ METRICS_PORT: port }),
      ['METRICS_PORT', `"${port}"`, 'expected a port number'],
    );
  });

  it('rejects an invalid DATABASE_URL without echoing it (it may hold a password)', () => {
    const message = configError(() =>
      readEnvironment({ DATABASE_URL: 'postgres://u:s3cretpw@db:notaport/app' }),
    );
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('expected postgres://');
    expect(message).not.toContain('s3cretpw');
  });
});
