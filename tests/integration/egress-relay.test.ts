// The byte relays on an agent's way out, with real sockets: a CONNECT tunnel's upstream-to-client
// direction (api/egress/read-relay.ts) and the runtime's bridge (session-runtime/egress-bridge.ts),
// both reading into one buffer per connection and stopping while a write of it is pending. What
// must hold: every byte, in order, to a client that reads slowly (so writes do stay pending), a
// server that speaks first, the end passed on after the last byte, and the idle limit counting
// reads (a trickle keeps a tunnel open, silence closes it).
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { staticResolver } from '../../api/egress/index.js';
import { largeBuffersOut } from '../../api/egress/read-relay.js';
import { startEgressBridge } from '../../session-runtime/egress-bridge.js';
import { onCleanup } from '../helpers/cleanup.js';
import { policy, startEgress } from '../helpers/egress.js';
import { listenLoopback } from '../helpers/loopback.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const BIG = 24 * 1024 * 1024;

/** A TCP server that greets, then sends `bytes` (random, written as fast as it is taken), then ends. */
async function speaker(bytes: Buffer): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write('hello first\n');
    socket.end(bytes);
  });
  const { port } = await listenLoopback(server);
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return port;
}

/** CONNECT through the proxy; resolves once answered 200 with the tunnel paused, bytes after the answer's head kept. */
function tunnelTo(socketPath: string, authority: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      if (!head.subarray(0, end).toString().startsWith('HTTP/1.1 200')) return reject(new Error(head.toString()));
      socket.pause();
      if (end + 4 < head.length) socket.unshift(head.subarray(end + 4));
      resolve(socket);
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

/** Reads `socket` to its end, stopping for 20 ms after each 2 MiB so the relay's writes back up. */
function readSlowly(socket: net.Socket): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let nextStop = 2 * 1024 * 1024;
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < nextStop) return;
      nextStop += 2 * 1024 * 1024;
      socket.pause();
      setTimeout(() => socket.resume(), 20);
    });
    socket.on('end', () => (ended = true));
    socket.on('error', reject);
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), ended }));
    socket.resume();
  });
}

const sha = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');

describe('egress byte relays', () => {
  it('a tunnel carries a server that speaks first and 24 MiB to a slow reader, every byte in order, then the end', async () => {
    const body = crypto.randomBytes(BIG);
    const port = await speaker(body);
    const egress = startEgress({ resolver: staticResolver({}) });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${port}`));
    const { data, ended } = await readSlowly(await tunnelTo(socketPath, `127.0.0.1:${port}`));
    expect(data.subarray(0, 12).toString()).toBe('hello first\n');
    expect(data.length).toBe(12 + BIG);
    expect(sha(data.subarray(12))).toBe(sha(body));
    expect(ended).toBe(true);
    await waitFor(() => egress.proxy.stats('s1')!.upstreams === 0, 'the upstream to be released');
  });

  it('a tunnel that trickles stays open past the idle limit; one silent for it is closed', async () => {
    const idleTimeoutMs = 400;
    let upstreamClosed = false;
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('close', () => (upstreamClosed = true));
      // A byte every 100 ms for 1.2 s (three idle limits), then nothing.
      let sent = 0;
      const timer = setInterval(() => {
        socket.write('.');
        if (++sent === 12) clearInterval(timer);
      }, 100);
      socket.on('close', () => clearInterval(timer));
    });
    const { port } = await listenLoopback(server);
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const egress = startEgress({ resolver: staticResolver({}), limits: { idleTimeoutMs } });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${port}`));
    const tunnel = await tunnelTo(socketPath, `127.0.0.1:${port}`);
    let received = '';
    let closedAt = 0;
    tunnel.on('data', (c: Buffer) => (received += c.toString()));
    tunnel.on('close', () => (closedAt = performance.now()));
    tunnel.resume();
    await waitFor(() => received.length === 12, () => `12 bytes through the tunnel, got ${received.length}`);
    const lastByteAt = performance.now();
    await waitFor(() => closedAt > 0 && upstreamClosed, 'the silent tunnel to be closed, both sides');
    expect(closedAt - lastByteAt).toBeGreaterThanOrEqual(idleTimeoutMs - 150);
  });

  it('large read buffers are a host budget: 80 stalled downloads hold at most 64, and every one goes back — failed connects too', async () => {
    // A server that sends 4 MiB to each connection at once, to clients that read nothing.
    const body = crypto.randomBytes(4 * 1024 * 1024);
    const port = await speaker(body);
    const closed = net.createServer();
    const { port: deadPort } = await listenLoopback(closed);
    await new Promise((resolve) => closed.close(resolve));
    const egress = startEgress({ resolver: staticResolver({}), limits: { maxConnections: 256 } });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${port},127.0.0.1:${deadPort}`));
    const before = largeBuffersOut();
    // Refused upstreams (nothing listens there): each relay made for them is given back.
    for (let i = 0; i < 20; i++) await expect(tunnelTo(socketPath, `127.0.0.1:${deadPort}`)).rejects.toThrow(/HTTP\/1.1 502/);
    expect(largeBuffersOut()).toBe(before);
    const tunnels = await Promise.all(Array.from({ length: 80 }, () => tunnelTo(socketPath, `127.0.0.1:${port}`)));
    await waitFor(() => egress.proxy.stats('s1')!.upstreams === 80, 'every upstream connected');
    expect(largeBuffersOut() - before).toBe(64);
    for (const t of tunnels) t.destroy();
    await waitFor(() => egress.proxy.stats('s1')!.upstreams === 0, 'the upstreams to be released');
    await waitFor(() => largeBuffersOut() === before, () => `large buffers back to ${before}, ${largeBuffersOut()} out`);
    // And a fresh download gets a large buffer again, every byte through.
    const { data } = await readSlowly(await tunnelTo(socketPath, `127.0.0.1:${port}`));
    expect(sha(data.subarray(12))).toBe(sha(body));
  });

  it('the bridge carries 24 MiB from the proxy to a slow reader, every byte in order, then the end', async () => {
    const body = crypto.randomBytes(BIG);
    const socketPath = path.join(tempDir('bridge'), 'proxy.sock');
    // The proxy's side: reads the request, answers with the whole body, ends.
    const proxy = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end(body));
    });
    await new Promise<void>((resolve) => proxy.listen(socketPath, resolve));
    onCleanup(() => new Promise((resolve) => proxy.close(resolve)));
    const bridge = await startEgressBridge({ socketPath });
    onCleanup(() => bridge.close());
    const { hostname, port } = new URL(bridge.url);
    const client = net.connect({ host: hostname, port: Number(port) });
    client.write('GET http://example.test/ HTTP/1.1\r\n\r\n');
    const { data, ended } = await readSlowly(client);
    expect(data.length).toBe(BIG);
    expect(sha(data)).toBe(sha(body));
    expect(ended).toBe(true);
    await waitFor(() => bridge.connections() === 0, 'the bridge to let the connection go');
  });
});
