/*
 * `check` and `status` over a network that stops forwarding in the middle of the command:
 * a proxy that, at a chosen statement, silently drops every byte both ways and closes
 * nothing (what a stalled proxy or a partition looks like to the client). Each query has a
 * deadline (src/db/queryDeadline.ts, STATUS_RECONCILER_QUERY_TIMEOUT_MS): the command must
 * exit 1 soon after it, naming the stall and the host, instead of waiting forever.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHistoryTable, STANDARD_JOB } from '../helpers/history.js';
import { jobFiles } from '../helpers/jobFiles.js';
import { within } from '../helpers/stallRuns.js';

const DEADLINE_MS = 1500;

interface StallProxy {
  url: string;
  /** Whether it has stalled, and on which client chunk (printable characters only). */
  stalledOn: string | undefined;
  close(): Promise<void>;
}

/**
 * A proxy to the test server that stalls every connection at the first client chunk
 * `stallAt` accepts (given the chunk's text and whether the session was prepared, i.e. its
 * pg_backend_pid() query was answered): that chunk and everything after it, both ways, are
 * dropped, and no socket is closed.
 */
async function stallProxy(
  targetUrl: string,
  stallAt: (chunk: string, prepared: boolean) => boolean,
): Promise<StallProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const proxy: StallProxy = { url: '', stalledOn: undefined, close: async () => undefined };
  const server = net.createServer((client) => {
    track(client);
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    track(upstream);
    let stalled = false;
    let preparing = false;
    let prepared = false;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (!stalled && stallAt(text, prepared)) {
        stalled = true;
        proxy.stalledOn = text.replace(/[^ -~]/g, '.');
      }
      if (text.includes('pg_backend_pid()')) preparing = true;
      if (!stalled) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (stalled) return;
      if (preparing) prepared = true;
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  proxy.url = url.toString();
  proxy.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

let db: TestDatabase;
const files = jobFiles();
let path: string;

beforeAll(async () => {
  db = await createTestDatabase('e2e_command_stalls');
  await createHistoryTable(db);
  await db.query(`CREATE INDEX ON public.object_status USING brin (start_date);
    INSERT INTO public.object_status (object_id, status_id, start_date) VALUES
      (1, 10, '2024-01-01 00:00:00+00'), (1, 10, '2024-01-02 00:00:00+00')`);
  path = files.write(STANDARD_JOB);
  // One run, so that status has runs to read.
  const run = await runCli(['run', '--jobs', path], { DATABASE_URL: db.url });
  expect(run.code, run.stderr).toBe(0);
});
afterAll(async () => {
  files.cleanup();
  await db?.drop();
});

/** The command through the proxy, with the deadline; killed (and failed) if still running after 20 s. */
async function stalledCommand(
  args: string[],
  stallAt: (chunk: string, prepared: boolean) => boolean,
): Promise<{ result: CliResult; seconds: number; proxy: StallProxy }> {
  const proxy = await stallProxy(db.url, stallAt);
  const started = Date.now();
  try {
    const running = startCli(args, {
      DATABASE_URL: proxy.url,
      LOG_LEVEL: 'warn',
      STATUS_RECONCILER_QUERY_TIMEOUT_MS: String(DEADLINE_MS),
    });
    const result = await within(running, 20000);
    return { result, seconds: (Date.now() - started) / 1000, proxy };
  } finally {
    await proxy.close();
  }
}

function expectStall(result: CliResult, proxy: StallProxy, command: string, statement: RegExp): void {
  expect(proxy.stalledOn).toBeDefined();
  expect(result.code, result.stdout + result.stderr).toBe(1);
  const port = new URL(proxy.url).port;
  expect(result.stderr).toMatch(
    new RegExp(
      `^status-reconciler: ${command}: no answer from PostgreSQL at 127\\.0\\.0\\.1:${port} within ${DEADLINE_MS} ms: a stalled network, proxy or server; `,
    ),
  );
  expect(result.stderr).toMatch(statement);
  expect(result.stderr).toContain(
    `Each query of ${command} has this deadline (STATUS_RECONCILER_QUERY_TIMEOUT_MS, default 30000 ms)`,
  );
}

describe('a network that stalls under check and status', () => {
  it('through the proxy, without a stall, check and status work', async () => {
    const proxy = await stallProxy(db.url, () => false);
    try {
      const env = { DATABASE_URL: proxy.url, LOG_LEVEL: 'warn', STATUS_RECONCILER_QUERY_TIMEOUT_MS: '5000' };
      const check = await runCli(['check', '--jobs', path], env);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      const status = await runCli(['status', '--jobs', path], env);
      expect(status.code, status.stdout + status.stderr).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it("check: its first query after the session's start stalls: exit 1 naming the stall and the host", async () => {
    const { result, seconds, proxy } = await stalledCommand(
      ['check', '--jobs', path],
      (_, prepared) => prepared,
    );
    expectStall(result, proxy, 'check', /it waited for the answer to: \S/);
    expect(seconds).toBeLessThan(DEADLINE_MS / 1000 + 6); // the deadline, plus the CLI's start and close
  });

  it('check: a later query (the tie-breaker index) stalls: exit 1 as well', async () => {
    const { result, seconds, proxy } = await stalledCommand(
      ['check', '--jobs', path],
      (chunk, prepared) => prepared && chunk.includes('pg_index'),
    );
    expectStall(result, proxy, 'check', /it waited for the answer to: SELECT /);
    expect(seconds).toBeLessThan(DEADLINE_MS / 1000 + 6);
  });

  it('status: a stall inside its read transaction: exit 1 once, without waiting again on the ROLLBACK', async () => {
    const { result, seconds, proxy } = await stalledCommand(
      ['status', '--jobs', path],
      (chunk, prepared) => prepared && chunk.includes('run_history'),
    );
    expectStall(result, proxy, 'status', /it waited for the answer to: \S/);
    // One deadline, not two (the ROLLBACK after it would wait a second one on the stalled socket).
    expect(seconds).toBeLessThan((2 * DEADLINE_MS) / 1000 + 1);
  });

  it("the session's own first query stalls: exit 1 with the same message", async () => {
    const { result, seconds, proxy } = await stalledCommand(['status', '--jobs', path], (chunk) =>
      chunk.includes('pg_backend_pid()'),
    );
    expectStall(result, proxy, 'status', /it waited for the session to start\./);
    expect(seconds).toBeLessThan(DEADLINE_MS / 1000 + 6);
  });

  it('an invalid STATUS_RECONCILER_QUERY_TIMEOUT_MS is a usage error (exit 2)', async () => {
    const result = await runCli(['check', '--jobs', path], {
      DATABASE_URL: db.url,
      STATUS_RECONCILER_QUERY_TIMEOUT_MS: '1.5s',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid STATUS_RECONCILER_QUERY_TIMEOUT_MS: got "1.5s"');
  });

  it('help lists STATUS_RECONCILER_QUERY_TIMEOUT_MS', async () => {
    const help = await runCli(['help'], {});
    expect(help.stdout).toContain('STATUS_RECONCILER_QUERY_TIMEOUT_MS');
  });
});
