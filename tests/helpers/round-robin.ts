/**
 * A small load balancer for the replica tests: a TCP proxy on 127.0.0.1:0 that hands each new
 * connection to the next backend in turn (round robin), skipping a backend that refuses the
 * connection, as a load balancer's health check would. It copies bytes both ways and nothing
 * else, so HTTP keep-alive and WebSockets stay on the backend their connection reached.
 * `connections` says which backend took each connection; it closes itself when the test (or
 * file) that made it ends (tests/helpers/cleanup.ts).
 */
import net from 'node:net';
import { onCleanup } from './cleanup.js';

export interface Backend {
  host: string;
  port: number;
}

export interface RoundRobin {
  url: string;
  port: number;
  /** The backend index each accepted connection went to, in order. */
  readonly connections: number[];
  /** Replaces a backend (a restarted replica on a new port). */
  setBackend(index: number, backend: Backend): void;
  /** Sends every new connection to this backend first (null: round robin again); one that
   * refuses still falls through to the others. */
  pin(index: number | null): void;
  close(): Promise<void>;
}

export const backendOf = (url: string): Backend => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
};

export async function startRoundRobin(backends: Backend[]): Promise<RoundRobin> {
  const list = [...backends];
  const connections: number[] = [];
  const open = new Set<net.Socket>();
  let next = 0;
  let pinned: number | null = null;

  /** Connects to the next backend that accepts, trying each once. */
  const connectOnward = (tried = 0): Promise<{ socket: net.Socket; index: number }> => {
    const index = tried === 0 && pinned !== null ? pinned : next;
    next = (index + 1) % list.length;
    const target = list[index]!;
    return new Promise((resolve, reject) => {
      const socket = net.connect(target.port, target.host);
      socket.once('connect', () => resolve({ socket, index }));
      socket.once('error', (err) => {
        socket.destroy();
        if (tried + 1 >= list.length) reject(err);
        else connectOnward(tried + 1).then(resolve, reject);
      });
    });
  };

  const server = net.createServer((client) => {
    open.add(client);
    client.pause();
    client.on('error', () => client.destroy());
    client.on('close', () => open.delete(client));
    connectOnward().then(
      ({ socket, index }) => {
        connections.push(index);
        open.add(socket);
        socket.on('close', () => open.delete(socket));
        socket.on('error', () => client.destroy());
        client.on('close', () => socket.destroy());
        socket.on('close', () => client.destroy());
        client.pipe(socket);
        socket.pipe(client);
        client.resume();
      },
      () => client.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let closed: Promise<void> | null = null;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of open) s.destroy();
    }));
  onCleanup(close);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections,
    setBackend(index, backend) {
      list[index] = backend;
    },
    pin(index) {
      pinned = index;
    },
    close,
  };
}
