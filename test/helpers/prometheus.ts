import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitReady(url: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become ready`);
    await sleep(50);
  }
}

export interface Service {
  url: string;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess, dir?: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}

/** A real Pushgateway on a loopback port. */
export async function startPushgateway(): Promise<Service> {
  const port = await freePort();
  const child = spawn('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/-/ready`);
  return { url, stop: stopper(child) };
}

/** A real Prometheus scraping `target` (host:port) every second, honouring pushed labels. */
export async function startPrometheus(
  target: string,
): Promise<Service & { query(q: string, time?: number): Promise<PromSample[]> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sr-prom-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n` +
      `  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['${target}']\n`,
  );
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/-/ready`);
  return {
    url,
    stop: stopper(child, dir),
    async query(q: string, time?: number) {
      const params = new URLSearchParams({ query: q });
      if (time !== undefined) params.set('time', String(time));
      const response = await fetch(`${url}/api/v1/query?${params}`);
      const body = (await response.json()) as {
        status: string;
        data: { result: PromSample[] };
        error?: string;
      };
      if (body.status !== 'success') throw new Error(`PromQL ${q}: ${body.error ?? response.status}`);
      return body.data.result;
    },
  };
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * Runs promtool check metrics on an exposition; returns its exit code and output. Get `promtool`
 * from requireTool('promtool', ...) (test/helpers/tools.ts): a missing one fails under CI=true.
 */
export function promtoolCheckMetrics(
  exposition: string,
  promtool = 'promtool',
): { status: number | null; output: string } {
  const result = spawnSync(promtool, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
