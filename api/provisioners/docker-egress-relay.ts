/**
 * A session container's way to its egress proxy: a socket in the machine's run directory
 * (MACHINE_EGRESS_RELAY_SOCKET inside) that forwards each connection, byte for byte, to the
 * session's proxy socket in its egress directory (MachineSpec.egressDir). The relay decides
 * nothing; the proxy behind it applies the session's policy.
 *
 * Why not bind the egress directory as the local provisioner does: the container runs as the
 * image's `agent` (uid 1000), and the proxy keeps its directory and socket to the API's own user
 * (0700/0600 — for a root API, root's): the container's user could not connect. The relay's
 * socket is made the container user's instead (docker.ts), in a directory only that machine sees.
 *
 * Each connection dials the proxy's path anew, so a proxy listening again after an API restart
 * is found; while it is not there, the client is answered 502 saying so (as the runtime's bridge
 * does when this relay is not there). Bounded like the bridge: 256 connections, pipes with
 * backpressure, 15 minutes of silence.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Logger } from '../logger.js';

const MAX_CONNECTIONS = 256;
const IDLE_TIMEOUT_MS = 15 * 60_000;

export interface EgressRelay {
  close(): Promise<void>;
}

const UNREACHABLE =
  'HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n' +
  'catty: egress: the egress proxy is not reachable (is catty-api restarting?)\n';

/** Listens at `socketPath` (0600; the caller gives it to the container's user) for `proxySocket`. */
export async function openEgressRelay(socketPath: string, proxySocket: string, logger: Pick<Logger, 'warn'>): Promise<EgressRelay> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => undefined);
    client.setTimeout(IDLE_TIMEOUT_MS, () => client.destroy());
    const upstream = net.connect(proxySocket);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return void client.destroy();
      logger.warn({ err: err.code ?? err.message, proxySocket }, 'egress relay: the proxy is not reachable');
      client.end(UNREACHABLE);
    });
    upstream.on('close', () => client.end());
    client.on('close', () => upstream.destroy());
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
}
