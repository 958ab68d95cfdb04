/**
 * The agent's way out (issue 20, item 4): a TCP listener on the machine's loopback that forwards
 * each connection, byte for byte, to the host's egress proxy through its Unix socket
 * (CATTY_EGRESS_SOCKET, bound into the sandbox). The agent finds it through HTTP_PROXY and the
 * rest (agent-env.ts) and speaks HTTP proxy to it (absolute-form requests, CONNECT); the proxy
 * applies the session's policy. The bridge decides nothing: inside the machine's own network
 * namespace this port is the machine's alone, and whatever comes through meets the policy.
 *
 * Bounded: at most maxConnections at once (more are closed at accept); each direction pauses
 * its reading side while the other's write is pending; a connection with no traffic for
 * idleTimeoutMs is closed (longer than the proxy's own idle limit: the proxy decides). When
 * the proxy cannot be reached (its API restarting), the client is answered 502 saying so.
 *
 * Every agent download crosses here, so the proxy's side is read the cheapest way node offers
 * (as api/egress/read-relay.ts does; the runtime may not import it): into one buffer of the
 * connection's own (net's onread), each read written on to the client as it is, reading stopped
 * while that write is pending (the buffer is its only copy). A pipe() allocates 64 KiB per
 * read and costs ~1.5× the CPU per byte. The client's side, accepted by the server, reads as a
 * stream and is piped.
 */
import net from 'node:net';

export interface EgressBridgeOptions {
  /** The proxy's socket inside the machine. */
  socketPath: string;
  /** Default 127.0.0.1, port 0 (a free one). */
  host?: string;
  port?: number;
  /** Default 256, the proxy's own limit per session. */
  maxConnections?: number;
  /** Default 15 min. */
  idleTimeoutMs?: number;
}

export interface EgressBridge {
  /** `http://127.0.0.1:PORT`: what the agent's proxy variables name. */
  readonly url: string;
  connections(): number;
  /** Stops accepting and ends every connection. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_MAX_CONNECTIONS = 256;
const DEFAULT_IDLE_TIMEOUT_MS = 15 * 60_000;
const UNREACHABLE_LINGER_MS = 2_000;
/** The proxy's bytes are read up to this much at a time. A Unix socket gives at most about its
 * sender's buffer (~208 KiB) a read: 256 KiB carries 100 MB at the CPU 1 MiB does (50–60 ms,
 * 70–100 with pipes), for a quarter of the memory each connection takes while it lasts. */
const READ_BUFFER_BYTES = 256 * 1024;

export async function startEgressBridge(options: EgressBridgeOptions): Promise<EgressBridge> {
  const pairs = new Set<net.Socket>();
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  // Half-open on both sides: a client that has sent its request may still be reading the answer.
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    pairs.add(client);
    client.once('close', () => pairs.delete(client));
    forward(client, options.socketPath, idleTimeoutMs);
  });
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    connections: () => pairs.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Each client's connection to the proxy goes with it (forward()).
        for (const client of pairs) client.destroy();
      });
      return closing;
    },
  };
}

/** Joins one accepted client (paused) to a new connection to the proxy. */
function forward(client: net.Socket, socketPath: string, idleTimeoutMs: number): void {
  let writes = 0;
  const onread = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
    callback(count: number, buffer: Buffer): boolean {
      const write = ++writes;
      client.write(buffer.subarray(0, count), () => {
        // Only the last write can be the one waited for; earlier ones' callbacks come late.
        if (write === writes && !upstream.readableFlowing) upstream.resume();
      });
      if (client.writableLength === 0) return true;
      upstream.pause();
      return false;
    },
  };
  const upstream = net.connect({ path: socketPath, allowHalfOpen: true, onread });
  let connected = false;
  const destroyBoth = (): void => {
    client.destroy();
    upstream.destroy();
  };
  // Activity in either direction is a read or a write on the client.
  client.setTimeout(idleTimeoutMs, destroyBoth);
  client.on('error', destroyBoth);
  // Nobody is left to answer: the proxy's side goes.
  client.on('close', () => upstream.destroy());
  // The proxy is done: the client gets the bytes still queued for it (the pipe ended it after
  // them), then its side goes too; at once when the proxy's side broke.
  upstream.on('close', (hadError) => {
    if (!connected) return; // answered below
    if (hadError || client.writableFinished) client.destroy();
    else client.once('finish', () => client.destroy());
  });
  // The proxy's end of its bytes, after the last of them (writes stay in order).
  upstream.once('end', () => client.end());
  upstream.once('connect', () => {
    connected = true;
    client.pipe(upstream);
    upstream.resume();
    client.resume();
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    if (connected || client.destroyed) return destroyBoth();
    // Read and drop what the client sent (unread bytes would turn our close into a reset).
    client.resume();
    client.end(unreachable(error.code ?? error.message));
    // Then a little time for the client to close its side, not the whole idle timeout.
    client.setTimeout(UNREACHABLE_LINGER_MS);
  });
}

function unreachable(why: string): string {
  const body = `catty: egress: the session's network proxy is not reachable (${why}); requests fail until it is back.\n`;
  return `HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
