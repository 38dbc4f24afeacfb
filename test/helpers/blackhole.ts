import net from 'node:net';

/**
 * A TCP proxy in front of the test server that can turn into a black hole: after
 * partition() it drops every byte both ways and answers new connections with silence,
 * closing nothing: what a network partition looks like to the client (its writes are
 * accepted, nothing ever comes back). close() cuts every connection, as a partition that
 * ends with the peers' sockets gone.
 */
export interface Blackhole {
  /** `url` with the proxy's host and port instead. */
  through(url: string): string;
  partition(): void;
  close(): Promise<void>;
}

export async function startBlackhole(targetUrl: string): Promise<Blackhole> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let partitioned = false;
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    track(client);
    if (partitioned) return; // accepted, never answered
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    track(upstream);
    client.on('data', (chunk) => {
      if (!partitioned) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!partitioned) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    through(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    partition() {
      partitioned = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
