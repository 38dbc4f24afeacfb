import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Health {
  healthy: boolean;
  detail: Record<string, unknown>;
}

/** /metrics and /healthz on loopback or all interfaces; nothing else. */
export function startMetricsServer(
  port: number,
  host: string,
  handlers: { metrics: () => Promise<Registry>; health: () => Promise<Health> },
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = async (): Promise<void> => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        const registry = await handlers.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
      } else if (path === '/healthz') {
        const health = await handlers.health();
        res
          .writeHead(health.healthy ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: health.healthy ? 'ok' : 'unhealthy', ...health.detail }));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
      }
    };
    reply().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${(error as Error).message}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
