/**
 * A loopback TCP proxy the tests control, placed between two parties (client ↔ runtime,
 * runtime ↔ S3) to bring the faults real networks bring:
 *   pass  — forward both ways (optionally after `delayMs`);
 *   stall — keep connections open but forward nothing (bytes queue in the kernel, then here);
 *   cut   — destroy every open connection now (no FIN handshake: a reset);
 *   refuse — reset every open connection and every new one (storage unreachable; kept-alive
 *            sockets included).
 * Listens on 127.0.0.1:0; `url` rewrites an http/ws URL to go through it.
 */
import net from 'node:net';
import { listenLoopback } from './loopback.js';

export type FaultMode = 'pass' | 'stall' | 'refuse';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** Data held while stalled, per direction, flushed on pass. */
  held: { toUpstream: Buffer[]; toClient: Buffer[] };
  /** A black hole: forwards nothing, ever (packets dropped on a dead route, no reset). */
  blackholed: boolean;
}

export interface FaultProxy {
  port: number;
  /** `http://127.0.0.1:<target port>/x` → the same through the proxy. */
  url(target: string): string;
  mode(): FaultMode;
  pass(): void;
  stall(): void;
  refuse(): void;
  /** Added latency per forwarded chunk in pass mode. */
  delay(ms: number): void;
  /** Caps each connection's throughput per direction (0: no cap), by pausing the source. */
  throttle(bytesPerSec: number): void;
  /** Open connections become black holes (nothing forwarded, never closed: a dead route with
   * no reset); new connections pass. */
  blackholeOpen(): void;
  /** Resets every open connection; the mode is unchanged. Returns how many were cut. */
  cut(): number;
  /** Connections accepted so far (and when, ms since epoch), those open now, bytes forwarded
   * and bytes held by a stall. */
  stats(): { accepted: number; acceptedAtMs: number[]; open: number; bytesToClient: number; bytesToUpstream: number; heldBytes: number };
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  let current: FaultMode = 'pass';
  let delayMs = 0;
  let bytesPerSec = 0;
  let accepted = 0;
  const acceptedAtMs: number[] = [];
  let bytesToClient = 0;
  let bytesToUpstream = 0;
  const pairs = new Set<Pair>();

  const forward = (pair: Pair, dir: 'toUpstream' | 'toClient', chunk: Buffer): void => {
    const dest = dir === 'toUpstream' ? pair.upstream : pair.client;
    if (pair.blackholed) return;
    if (current === 'stall') {
      pair.held[dir].push(chunk);
      // Stop reading the source so the sender sees real backpressure, as a stalled network does.
      (dir === 'toUpstream' ? pair.client : pair.upstream).pause();
      return;
    }
    const send = (): void => {
      if (dest.destroyed) return;
      if (dir === 'toClient') bytesToClient += chunk.length;
      else bytesToUpstream += chunk.length;
      dest.write(chunk);
      if (bytesPerSec > 0) {
        const source = dir === 'toUpstream' ? pair.client : pair.upstream;
        source.pause();
        setTimeout(() => current === 'pass' && !pair.blackholed && source.resume(), (chunk.length / bytesPerSec) * 1000);
      }
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  };

  const server = net.createServer((client) => {
    accepted += 1;
    acceptedAtMs.push(Date.now());
    if (current === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair: Pair = { client, upstream, held: { toUpstream: [], toClient: [] }, blackholed: false };
    pairs.add(pair);
    const end = (): void => {
      // A black hole passes nothing on, not even a close: the other side just hears silence.
      if (pair.blackholed) return;
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('data', (c: Buffer) => forward(pair, 'toUpstream', c));
    upstream.on('data', (c: Buffer) => forward(pair, 'toClient', c));
    client.on('end', () => pair.blackholed || upstream.end());
    upstream.on('end', () => pair.blackholed || client.end());
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  const { port } = await listenLoopback(server);

  const flushHeld = (): void => {
    for (const pair of pairs) {
      if (pair.blackholed) continue;
      for (const dir of ['toUpstream', 'toClient'] as const) {
        const chunks = pair.held[dir].splice(0);
        for (const c of chunks) forward(pair, dir, c);
      }
      pair.client.resume();
      pair.upstream.resume();
    }
  };

  return {
    port,
    url: (target) => {
      const u = new URL(target);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString().replace(/\/$/, target.endsWith('/') ? '/' : '');
    },
    mode: () => current,
    pass: () => {
      current = 'pass';
      flushHeld();
    },
    stall: () => {
      current = 'stall';
    },
    refuse: () => {
      current = 'refuse';
      for (const pair of [...pairs]) {
        pair.client.resetAndDestroy();
        pair.upstream.resetAndDestroy();
        pairs.delete(pair);
      }
    },
    blackholeOpen: () => {
      for (const pair of pairs) {
        pair.blackholed = true;
        pair.held.toUpstream = [];
        pair.held.toClient = [];
      }
      current = 'pass';
    },
    delay: (ms) => {
      delayMs = ms;
    },
    throttle: (rate) => {
      bytesPerSec = rate;
    },
    cut: () => {
      const n = pairs.size;
      for (const pair of [...pairs]) {
        pair.client.resetAndDestroy();
        pair.upstream.resetAndDestroy();
        pairs.delete(pair);
      }
      return n;
    },
    stats: () => {
      let heldBytes = 0;
      for (const pair of pairs) for (const c of [...pair.held.toUpstream, ...pair.held.toClient]) heldBytes += c.length;
      return { accepted, acceptedAtMs: [...acceptedAtMs], open: pairs.size, bytesToClient, bytesToUpstream, heldBytes };
    },
    close: async () => {
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
