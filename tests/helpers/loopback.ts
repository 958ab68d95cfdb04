/** Test servers listen on 127.0.0.1 at a port the kernel picks; this is the one place they do. */
import type http from 'node:http';
import net from 'node:net';

export interface Listening {
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
}

/** Starts `server` listening on 127.0.0.1:0 and resolves with the port it got. */
export async function listenLoopback(server: net.Server): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  return { port, url: `http://127.0.0.1:${port}` };
}

/** A port free on 127.0.0.1 just now (for a server that must know its address before it starts). */
export async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  const { port } = await listenLoopback(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Closes an HTTP server now: open connections (kept-alive ones too) are dropped. */
export async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
