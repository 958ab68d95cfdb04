/**
 * The runtime's side of egress (issue 20, item 4): the bridge from the machine's loopback to the
 * proxy's Unix socket (session-runtime/egress-bridge.ts), the agent's proxy variables
 * (agent-env.ts) and CATTY_EGRESS_SOCKET (config.ts). The proxy here is a small Unix socket
 * server that records what it gets and echoes; the real one is in tests/security.
 */
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAgentEnv } from '../../session-runtime/agent-env.js';
import { ConfigError, loadConfig } from '../../session-runtime/config.js';
import { startEgressBridge, type EgressBridge } from '../../session-runtime/egress-bridge.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

/** A Unix socket server standing in for the proxy: answers "echo:" + what it reads, ends when the client does. */
async function fakeProxy(): Promise<{ socketPath: string; server: net.Server; received: () => Buffer; sockets: Set<net.Socket> }> {
  const socketPath = path.join(tempDir('bridge'), 'proxy.sock');
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // the bridge may cut it (idle, close())
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      socket.write(Buffer.concat([Buffer.from('echo:'), c]));
    });
    // The client's end arrives here as an end: the proxy answers once more, then ends too.
    socket.on('end', () => socket.end('bye'));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return { socketPath, server, received: () => Buffer.concat(chunks), sockets };
}

async function bridgeTo(socketPath: string, options: { maxConnections?: number; idleTimeoutMs?: number } = {}): Promise<EgressBridge> {
  const bridge = await startEgressBridge({ socketPath, ...options });
  onCleanup(() => bridge.close());
  return bridge;
}

/** Connects to the bridge, sends `data`, half-closes (unless told not to), and resolves with everything until close. */
function exchange(url: string, data: string | Buffer, { end = true } = {}): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    // Half-open only when it ends first (it still reads the answer); else it closes with the bridge.
    const socket = net.connect({ host: hostname, port: Number(port), allowHalfOpen: end });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.write(data);
    if (end) socket.end();
  });
}

describe('egress bridge', () => {
  it('listens on 127.0.0.1 and forwards every byte both ways, then passes each side\'s end on', async () => {
    const proxy = await fakeProxy();
    const bridge = await bridgeTo(proxy.socketPath);
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const answer = await exchange(bridge.url, payload);
    expect(proxy.received()).toEqual(payload);
    // Everything the proxy sent after the client's end still arrived: the half-close was honoured.
    expect(answer).toEqual(Buffer.concat([Buffer.from('echo:'), payload, Buffer.from('bye')]));
    await waitFor(() => bridge.connections() === 0 && proxy.sockets.size === 0, 'both sides closed');
  });

  it('carries a large transfer intact both ways (through pipes that pause, not unbounded buffers)', async () => {
    const socketPath = path.join(tempDir('bridge'), 'proxy.sock');
    // A pure echo: every byte back, the end too.
    const server = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const bridge = await bridgeTo(socketPath);
    const big = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    expect((await exchange(bridge.url, big)).equals(big)).toBe(true);
  });

  it('answers 502 naming the cause when the proxy cannot be reached, and keeps serving once it is back', async () => {
    const socketPath = path.join(tempDir('bridge'), 'proxy.sock');
    const bridge = await bridgeTo(socketPath);
    const answer = (await exchange(bridge.url, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n', { end: false })).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(answer).toContain("the session's network proxy is not reachable (ENOENT)");
    const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
    expect(Number(/content-length: (\d+)/.exec(answer)?.[1])).toBe(Buffer.byteLength(body));

    // The proxy (a restarted API) listens again at the same path: the same bridge reaches it.
    const server = net.createServer((socket) => socket.resume().end('up again'));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    expect((await exchange(bridge.url, 'x')).toString()).toBe('up again');
  });

  it('takes at most maxConnections at once; close() ends the open ones and both of their sides', async () => {
    const proxy = await fakeProxy();
    const bridge = await bridgeTo(proxy.socketPath, { maxConnections: 2 });
    const { port } = new URL(bridge.url);
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.connect(Number(port), '127.0.0.1', () => resolve(s));
        s.on('error', reject);
      });
    const [a, b] = [await open(), await open()];
    await waitFor(() => proxy.sockets.size === 2, 'two connections through');
    const third = await open();
    const closed = await new Promise<boolean>((resolve) => {
      third.on('close', () => resolve(true));
      third.on('error', () => undefined);
    });
    expect(closed).toBe(true);
    expect(proxy.sockets.size).toBe(2);
    await bridge.close();
    await waitFor(() => a.destroyed && b.destroyed && proxy.sockets.size === 0, 'every connection closed');
  });

  it('closes a connection idle for idleTimeoutMs, on both sides', async () => {
    const proxy = await fakeProxy();
    const bridge = await bridgeTo(proxy.socketPath, { idleTimeoutMs: 200 });
    const started = Date.now();
    const answer = await exchange(bridge.url, 'hi', { end: false });
    expect(answer.toString()).toBe('echo:hi');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await waitFor(() => proxy.sockets.size === 0, "the proxy's side closed");
  });
});

describe("the agent's proxy variables", () => {
  const base = { runtimeEnv: { PATH: '/usr/bin', CATTY_EGRESS_SOCKET: '/run/catty-egress/proxy.sock' }, home: '/home/agent', isRoot: false };

  it('point HTTP(S)_PROXY, both cases, at the bridge; loopback stays direct; nothing of CATTY_*', () => {
    const env = buildAgentEnv({ ...base, agentEnv: { GH_TOKEN: 'x' }, proxyUrl: 'http://127.0.0.1:41234' });
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) expect(env[name], name).toBe('http://127.0.0.1:41234');
    expect(env.NO_PROXY).toBe('localhost,127.0.0.1,::1');
    expect(env.no_proxy).toBe('localhost,127.0.0.1,::1');
    expect(env.NODE_USE_ENV_PROXY).toBe('1');
    expect(env.GH_TOKEN).toBe('x');
    expect(Object.keys(env).filter((k) => k.startsWith('CATTY_'))).toEqual([]);
  });

  it("win over the user's own (the proxy is the only way out); absent without a bridge", () => {
    const env = buildAgentEnv({ ...base, agentEnv: { HTTPS_PROXY: 'http://corp-proxy:3128', NO_PROXY: '*' }, proxyUrl: 'http://127.0.0.1:41234' });
    expect(env.HTTPS_PROXY).toBe('http://127.0.0.1:41234');
    expect(env.NO_PROXY).toBe('localhost,127.0.0.1,::1');
    const without = buildAgentEnv({ ...base, agentEnv: {} });
    expect(Object.keys(without).filter((k) => /proxy/i.test(k))).toEqual([]);
  });
});

describe('CATTY_EGRESS_SOCKET', () => {
  it('is read as an absolute socket path that fits sockaddr_un; unset means no proxy', () => {
    expect(loadConfig({ CATTY_CONNECT_TOKEN: 't' }).egressSocket).toBeNull();
    expect(loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_EGRESS_SOCKET: '/run/catty-egress/proxy.sock' }).egressSocket).toBe('/run/catty-egress/proxy.sock');
    for (const bad of ['proxy.sock', `/${'a'.repeat(107)}`]) {
      expect(() => loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_EGRESS_SOCKET: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ CATTY_CONNECT_TOKEN: 't', CATTY_EGRESS_SOCKET: bad }), bad).toThrow(/CATTY_EGRESS_SOCKET/);
    }
  });
});
