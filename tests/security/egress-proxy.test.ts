/**
 * SECURITY.md 40, 41, 43 and 44 against the egress proxy itself (api/egress/), in-process, over
 * its real Unix sockets, with loopback upstreams and a static resolver standing in for DNS.
 * What these prove is the proxy's part; that a sandbox has no other way out (38, 39) and that
 * its traffic goes through here is for the provisioners' tests.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { staticResolver, type Resolver } from '../../api/egress/index.js';
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';
import { onCleanup } from '../helpers/cleanup.js';
import { connectVia, httpsInTunnel, policy, rawExchange, startEgress, startUpstream, viaProxy } from '../helpers/egress.js';
import { closeServer, freeLoopbackPort, listenLoopback } from '../helpers/loopback.js';
import { waitFor } from '../helpers/wait.js';

/** A resolver that counts what it is asked (a refused name must never be looked up). */
function countingResolver(table: Record<string, string[]>): Resolver & { asked: string[] } {
  const inner = staticResolver(table);
  const asked: string[] = [];
  return { asked, lookup: (name) => (asked.push(name), inner.lookup(name)) };
}

describe('SECURITY.md 40: the policy, enforced by the proxy', () => {
  it('40: a host outside the policy gets a 403 naming the host and the flag; the refusal is logged, and the name is never looked up', async () => {
    const resolver = countingResolver({ 'example.com': ['93.184.215.14'] });
    const handed: [string, EgressRefusal][] = [];
    const egress = startEgress({ resolver, onRefusal: (sessionId, refusal) => handed.push([sessionId, refusal]) });
    const socketPath = await egress.open('s1', policy('trusted'));

    const tunnel = await connectVia(socketPath, 'exfil.example.com:443');
    expect(tunnel.status).toBe(403);
    expect(tunnel.body).toMatch(/exfil\.example\.com:443.*not in this session's network policy/);
    expect(tunnel.body).toMatch(/catty new --allow exfil\.example\.com .*--net full/);
    const plain = await viaProxy(socketPath, 'http://Example.COM:8080/x');
    expect(plain.status).toBe(403);
    expect(plain.body).toContain('catty new --allow example.com:8080');

    expect(resolver.asked).toEqual([]);
    expect(egress.proxy.refusals('s1')).toMatchObject([
      { method: 'CONNECT', host: 'exfil.example.com', port: 443, reason: 'not-allowed' },
      { method: 'GET', host: 'example.com', port: 8080, reason: 'not-allowed' },
    ]);
    expect(handed.map(([id, r]) => `${id} ${r.host}`)).toEqual(['s1 exfil.example.com', 's1 example.com']);
    expect(new Date(handed[0]![1].time).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('40: private, loopback and link-local targets are refused unless that host is named — every spelling', async () => {
    const upstream = await startUpstream();
    const egress = startEgress({ resolver: staticResolver({}) });
    const full = await egress.open('full', policy('full'));
    const spellings = ['127.0.0.1', '127.1', '2130706433', '0x7f.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '0.0.0.0', 'localhost.', '10.0.0.1', '169.254.169.254', '[fe80::1]', '100.64.0.1', '[fd00::1]'];
    for (const host of spellings) {
      const tunnel = await connectVia(full, `${host}:${upstream.port}`);
      if (host === 'localhost.') {
        // No DNS here: the static resolver knows no name, so this one fails to resolve (502).
        expect(tunnel.status, host).toBe(502);
        continue;
      }
      expect(tunnel.status, host).toBe(403);
      expect(tunnel.body, host).toMatch(/is an? [a-z -]+ address.*; such addresses are reached only when named/i);
      expect((await viaProxy(full, `http://${host}:${upstream.port}/`)).status, host).toBe(403);
    }
    expect(upstream.seen).toEqual([]);

    const named = await egress.open('named', policy('trusted', `127.0.0.1:${upstream.port}`));
    expect((await viaProxy(named, `http://127.0.0.1:${upstream.port}/ok`)).status).toBe(200);
    // Named means that address: the other spellings of loopback are still refused.
    expect((await viaProxy(named, `http://[::1]:${upstream.port}/`)).status).toBe(403);
    expect((await viaProxy(named, `http://[::ffff:127.0.0.1]:${upstream.port}/`)).status).toBe(403);
    expect(upstream.seen.map((s) => s.url)).toEqual(['/ok']);
  });

  it('40: a name that resolves to loopback is refused (DNS tricks), trusted names and wildcards included; a named one connects to the address the proxy checked', async () => {
    const upstream = await startUpstream({ secure: true });
    const resolver = countingResolver({
      'evil.example': ['127.0.0.1'],
      'rebind.example': ['93.184.215.14', '127.0.0.1'],
      'github.com': ['127.0.0.1'],
      'api.internal.example': ['::ffff:127.0.0.1'],
      'secure.test': ['127.0.0.1'],
    });
    const egress = startEgress({ resolver });
    const socketPath = await egress.open('s1', policy('full', '*.internal.example', `secure.test:${upstream.port}`));
    for (const host of ['evil.example', 'rebind.example', 'github.com', 'api.internal.example']) {
      const tunnel = await connectVia(socketPath, `${host}:${upstream.port}`);
      expect(tunnel.status, host).toBe(403);
      expect(tunnel.body, host).toMatch(new RegExp(`${host.replace(/\./g, '\\.')} resolves to a loopback address`));
      expect(tunnel.body, host).not.toContain('127.0.0.1');
      expect(tunnel.body, host).toContain(`catty new --allow ${host}:${upstream.port}`);
    }
    // The log (the user's) has the address the body (the sandbox's) does not.
    expect(egress.proxy.refusals('s1').map((r) => `${r.reason} ${r.host} ${r.address}`)).toEqual([
      'private-address evil.example 127.0.0.1',
      'private-address rebind.example 127.0.0.1',
      'private-address github.com 127.0.0.1',
      'private-address api.internal.example ::ffff:127.0.0.1',
    ]);

    // secure.test is named: the proxy resolves it once (here only; the system has no such
    // name, so any lookup of its own would fail) and connects to that address.
    const before = resolver.asked.length;
    const tunnel = await connectVia(socketPath, `secure.test:${upstream.port}`);
    expect(tunnel.status).toBe(200);
    expect(await httpsInTunnel(tunnel.socket, 'secure.test', '/named')).toMatchObject({ status: 200 });
    expect(resolver.asked.slice(before)).toEqual(['secure.test']);
  });
});

describe('SECURITY.md 41: --net none', () => {
  it('41: nothing leaves, not even a trusted host, a named-nowhere IP or loopback; nothing is looked up', async () => {
    const upstream = await startUpstream();
    const resolver = countingResolver({ 'api.anthropic.com': ['127.0.0.1'] });
    const egress = startEgress({ resolver });
    const socketPath = await egress.open('s1', policy('none'));
    for (const target of ['api.anthropic.com:443', 'registry.npmjs.org:443', '8.8.8.8:53', `127.0.0.1:${upstream.port}`]) {
      const tunnel = await connectVia(socketPath, target);
      expect(tunnel.status, target).toBe(403);
      expect(tunnel.body, target).toMatch(/no network \(--net none\)/);
    }
    const plain = await viaProxy(socketPath, `http://127.0.0.1:${upstream.port}/`);
    expect(plain.status).toBe(403);
    // A body on its way is not read to its end first: the refusal comes at once.
    const upload = await viaProxy(socketPath, 'http://api.anthropic.com/v1/messages', { method: 'POST', body: 'x'.repeat(5 * 2 ** 20) });
    expect(upload.status).toBe(403);
    expect(resolver.asked).toEqual([]);
    expect(upstream.seen).toEqual([]);
    expect(egress.proxy.refusals('s1').map((r) => r.reason)).toEqual(Array(6).fill('net-none'));
  });
});

describe('SECURITY.md 43 (groundwork): the target decides, never the Host header', () => {
  it('43: a Host header naming another host neither steers nor passes a request; the upstream sees the target as Host', async () => {
    const upstream = await startUpstream();
    const egress = startEgress({ resolver: staticResolver({ 'allowed.test': ['127.0.0.1'] }) });
    const socketPath = await egress.open('s1', policy('none', `allowed.test:${upstream.port}`));

    // An allowed target with a hostile Host: forwarded to the target, with the target's Host.
    const steered = await viaProxy(socketPath, `http://allowed.test:${upstream.port}/a`, { headers: { host: 'api.anthropic.com' } });
    expect(steered.status).toBe(200);
    expect(upstream.seen[0]!.headers.host).toBe(`allowed.test:${upstream.port}`);
    // A refused target dressed with an allowed Host: refused (plain and CONNECT).
    expect((await viaProxy(socketPath, `http://127.0.0.1:${upstream.port}/b`, { headers: { host: `allowed.test:${upstream.port}` } })).status).toBe(403);
    expect((await connectVia(socketPath, `127.0.0.1:${upstream.port}`, { host: `allowed.test:${upstream.port}` })).status).toBe(403);
    // Two Host headers: neither is sent on; the upstream sees one Host, the target's.
    const doubled = await rawExchange(socketPath, `GET http://allowed.test:${upstream.port}/c HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`);
    expect(doubled).toMatch(/^HTTP\/1\.1 200/);
    expect(upstream.seen[1]!.headers.host).toBe(`allowed.test:${upstream.port}`);
    // A URI that hides a second host in its userinfo: refused before anything is sent.
    const userinfo = await rawExchange(socketPath, `GET http://allowed.test:${upstream.port}@127.0.0.1:${upstream.port}/d HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(userinfo).toMatch(/^HTTP\/1\.1 400/);
    expect(upstream.seen.map((s) => s.url)).toEqual(['/a', '/c']);
  });
});

describe('SECURITY.md 44: hostile clients', () => {
  const limits = { maxConnections: 100, headersTimeoutMs: 400, checkIntervalMs: 100, idleTimeoutMs: 600 };

  it('44: a flood of 500 connections, slowloris, a 1 MB header, a CONNECT to a closed port: bounded memory, answered quickly, the other session keeps flowing', async () => {
    const upstream = await startUpstream();
    // An echo server the flood's tunnels hold open.
    const echo = net.createServer((s) => s.pipe(s));
    const { port: echoPort } = await listenLoopback(echo);
    onCleanup(() => new Promise((resolve) => echo.close(resolve)));
    const egress = startEgress({ resolver: staticResolver({}), limits });
    const victim = await egress.open('victim', policy('none', `127.0.0.1:${echoPort}`, `127.0.0.1:${upstream.port}`));
    const other = await egress.open('other', policy('none', `127.0.0.1:${upstream.port}`));
    const otherWorks = async (): Promise<void> => {
      expect((await viaProxy(other, `http://127.0.0.1:${upstream.port}/other`)).status).toBe(200);
    };
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sample = (): void => void (rssPeak = Math.max(rssPeak, process.memoryUsage().rss));

    // Flood: 500 tunnels asked for at once. At most maxConnections are served at a time; the
    // rest are dropped at accept (counted by the listener).
    let settled = 0;
    let peakConnections = 0;
    const flood = Array.from({ length: 500 }, () => {
      const socket = net.connect(victim);
      socket.on('error', () => undefined);
      socket.once('data', () => settled++);
      socket.once('close', () => settled++);
      socket.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
      return socket;
    });
    onCleanup(() => flood.forEach((s) => s.destroy()));
    const during = (): void => {
      sample();
      peakConnections = Math.max(peakConnections, egress.proxy.stats('victim')!.connections);
    };
    // Each socket is answered (200) or dropped (closed); some are both, in time.
    await waitFor(() => (during(), settled >= 500), () => `the flood to be answered or dropped: ${settled} of 500, ${JSON.stringify(egress.proxy.stats('victim'))}`);
    expect(peakConnections).toBeLessThanOrEqual(limits.maxConnections);
    expect(egress.proxy.stats('victim')!.dropped).toBeGreaterThan(100);
    await otherWorks();

    // Idle tunnels are closed after idleTimeoutMs; the session's slots come back.
    await waitFor(() => (sample(), egress.proxy.stats('victim')!.connections === 0), () => `the flood's tunnels to be closed: ${JSON.stringify(egress.proxy.stats('victim'))}`);
    expect((await viaProxy(victim, `http://127.0.0.1:${upstream.port}/after-flood`)).status).toBe(200);

    // Slowloris: 50 connections that never finish their headers, and 20 that say nothing at
    // all, get 408 and are closed.
    const slow = await Promise.all([
      ...Array.from({ length: 50 }, () => rawExchange(victim, `GET http://127.0.0.1:${upstream.port}/ HTTP/1.1\r\nHost: x\r\nX-Slow: `, 5_000)),
      ...Array.from({ length: 20 }, () => rawExchange(victim, '', 5_000)),
    ]);
    for (const answer of slow) expect(answer).toMatch(/^HTTP\/1\.1 408/);
    sample();

    // A 1 MB header: 431 as soon as the limit is passed.
    const huge = await rawExchange(victim, `GET http://127.0.0.1:${upstream.port}/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`, 5_000);
    expect(huge).toMatch(/^HTTP\/1\.1 431/);
    sample();

    // CONNECT to a closed port (named, so allowed): 502 at once.
    const closedPort = await freeLoopbackPort();
    const victimToClosed = await egress.open('closed', policy('none', `127.0.0.1:${closedPort}`));
    const started = performance.now();
    const refusedTunnel = await connectVia(victimToClosed, `127.0.0.1:${closedPort}`);
    expect(refusedTunnel.status).toBe(502);
    expect(refusedTunnel.body).toMatch(/ECONNREFUSED/);
    expect(performance.now() - started).toBeLessThan(1_000);

    await otherWorks();
    expect((await viaProxy(victim, `http://127.0.0.1:${upstream.port}/still`)).status).toBe(200);
    // Loose bound (measured here: ~13 MB): 500 client sockets (ours, in this process too), 100
    // tunnels, 70 slow connections and a 1 MB header, never anything like header × clients.
    expect((rssPeak - rssBefore) / 2 ** 20).toBeLessThan(64);
  });

  it('44: a plain request whose upstream never answers gets 504 after the idle time; the client gone mid-response releases the upstream', async () => {
    // Reads (so it sees the proxy hang up) and never answers.
    const silent = net.createServer((s) => s.resume());
    const { port } = await listenLoopback(silent);
    onCleanup(() => new Promise((resolve) => silent.close(resolve)));
    const chatty = await startUpstream({
      handler: (_req, res) => {
        res.writeHead(200);
        res.write('first');
      },
    });
    const egress = startEgress({ resolver: staticResolver({}), limits });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${port}`, `127.0.0.1:${chatty.port}`));
    const answer = await viaProxy(socketPath, `http://127.0.0.1:${port}/`);
    expect(answer.status).toBe(504);

    const client = net.connect(socketPath);
    client.write(`GET http://127.0.0.1:${chatty.port}/stream HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((resolve) => client.once('data', resolve));
    expect(egress.proxy.stats('s1')!.upstreams).toBe(1);
    client.destroy();
    await waitFor(() => egress.proxy.stats('s1')!.upstreams === 0, 'the upstream to be released');
    await closeServer(chatty.server);
  });
});
