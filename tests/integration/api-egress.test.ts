// The egress proxy (api/egress/) with real sockets: per-session Unix listeners, plain HTTP and
// CONNECT to loopback servers named with --allow, header hygiene, policy replacement at run
// time. The credentials the proxy adds are in tests/security/egress-credentials.test.ts, the hostile cases in
// tests/security/egress-proxy.test.ts.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { staticResolver } from '../../api/egress/index.js';
import { connectVia, httpsInTunnel, policy, rawExchange, startEgress, startUpstream, viaProxy } from '../helpers/egress.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const resolver = staticResolver({ 'secure.test': ['127.0.0.1'], 'plain.test': ['127.0.0.1'] });

describe('egress proxy', () => {
  it('listens on a 0600 socket and refuses a directory others can enter', async () => {
    const egress = startEgress({ resolver });
    const socketPath = await egress.open('s1', policy('none'));
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(socketPath)).mode & 0o077).toBe(0);

    const open = tempDir('egress-open');
    fs.chmodSync(open, 0o755);
    await expect(egress.proxy.open('s2', path.join(open, 's2.sock'), policy('none'))).rejects.toThrow(/0700/);
    fs.writeFileSync(path.join(path.dirname(socketPath), 'file.sock'), 'not a socket');
    await expect(egress.proxy.open('s3', path.join(path.dirname(socketPath), 'file.sock'), policy('none'))).rejects.toThrow(/not a socket/);
    await expect(egress.proxy.open('s1', path.join(path.dirname(socketPath), 'again.sock'), policy('none'))).rejects.toThrow(/already/);

    await egress.proxy.close('s1');
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  it('forwards plain HTTP to a named loopback host, with the target as Host and no hop-by-hop headers', async () => {
    const upstream = await startUpstream();
    const egress = startEgress({ resolver });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${upstream.port}`, `plain.test:${upstream.port}`));

    const answer = await viaProxy(socketPath, `http://127.0.0.1:${upstream.port}/a?b=1#frag`, {
      method: 'POST',
      body: 'payload',
      headers: { host: 'elsewhere.example', 'proxy-authorization': 'Basic c2VjcmV0', connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-end': '2', 'content-type': 'text/plain' },
    });
    expect(answer).toMatchObject({ status: 200, body: 'hello from /a?b=1' });
    expect(answer.headers['x-upstream']).toBe('yes');
    expect(String(answer.headers['keep-alive'])).not.toContain('max=7');
    const [seen] = upstream.seen;
    expect(seen).toMatchObject({ method: 'POST', url: '/a?b=1', body: 'payload' });
    expect(seen!.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen!.headers['x-end']).toBe('2');
    for (const name of ['proxy-authorization', 'x-hop', 'proxy-connection']) expect(seen!.headers[name]).toBeUndefined();

    // A name the proxy resolves itself (to loopback: allowed because it is named).
    expect(await viaProxy(socketPath, `http://PLAIN.test.:${upstream.port}/n`)).toMatchObject({ status: 200, body: 'hello from /n' });
    expect(upstream.seen[1]!.headers.host).toBe(`plain.test:${upstream.port}`);
  });

  it('streams a chunked body and judges each request of a kept-alive connection afresh', async () => {
    const upstream = await startUpstream();
    const egress = startEgress({ resolver });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${upstream.port}`));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request({ socketPath, path: `http://127.0.0.1:${upstream.port}/up`, method: 'PUT', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write('one,');
      setImmediate(() => req.end('two'));
    });
    expect(chunked).toBe(200);
    expect(upstream.seen[0]).toMatchObject({ method: 'PUT', body: 'one,two' });
    const refused = await viaProxy(socketPath, `http://127.0.0.1:${upstream.port + 1 === 65536 ? 1 : upstream.port + 1}/`, { agent });
    expect(refused.status).toBe(403);
    agent.destroy();
  });

  it('tunnels CONNECT to a loopback HTTPS server named with --allow, by IP and by name', async () => {
    const upstream = await startUpstream({ secure: true });
    const egress = startEgress({ resolver });
    const socketPath = await egress.open('s1', policy('trusted', `127.0.0.1:${upstream.port}`, `secure.test:${upstream.port}`));

    const byIp = await connectVia(socketPath, `127.0.0.1:${upstream.port}`);
    expect(byIp.status).toBe(200);
    expect(await httpsInTunnel(byIp.socket, '127.0.0.1', '/ip')).toMatchObject({ status: 200, body: 'hello from /ip' });

    // The CONNECT's Host header says another host: the target in the request line is what counts.
    const byName = await connectVia(socketPath, `secure.test:${upstream.port}`, { host: 'api.anthropic.com:443' });
    expect(byName.status).toBe(200);
    expect(await httpsInTunnel(byName.socket, 'secure.test', '/name')).toMatchObject({ status: 200, body: 'hello from /name' });
    expect(upstream.seen.map((s) => s.url)).toEqual(['/ip', '/name']);
  });

  it('answers what is not a proxy request with 400, naming no client bytes', async () => {
    const egress = startEgress({ resolver });
    const socketPath = await egress.open('s1', policy('full'));
    const cases: [string, RegExp][] = [
      // Origin-form (`GET /`) is the model route (tests/security/egress-credentials.test.ts).
      ['OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*absolute http:\/\/ URI/],
      ['GET https://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*use CONNECT for https/],
      ['GET ftp://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*only http:\/\//],
      ['GET http://user:pw@example.com/ HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*user information/],
      ['CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*host:port/],
      ['CONNECT example.com:99999 HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*1 to 65535/],
      ['CONNECT ::1:443 HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*brackets/],
      ['CONNECT [::1:443 HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*closing bracket/],
      ['CONNECT exa<script>mple.com:443 HTTP/1.1\r\nHost: x\r\n\r\n', /400/],
      ['CONNECT exa%3Cscript%3Emple.com:443 HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*cannot have/],
      ['GET http://a..b/ HTTP/1.1\r\nHost: x\r\n\r\n', /400[\s\S]*empty label/],
      ['GARBAGE\r\n\r\n', /400/],
    ];
    for (const [request, expected] of cases) {
      const answer = await rawExchange(socketPath, request);
      expect(answer, request).toMatch(expected);
      expect(answer).not.toMatch(/<script>|%3Cscript/);
    }
  });

  it('a replaced policy applies to the next request and closes open tunnels it refuses', async () => {
    const upstream = await startUpstream({ secure: true });
    const refusals: string[] = [];
    const egress = startEgress({ resolver, onRefusal: (sessionId, r) => refusals.push(`${sessionId} ${r.method} ${r.host}:${r.port} ${r.reason}`) });
    const socketPath = await egress.open('s1', policy('none', `127.0.0.1:${upstream.port}`));
    const tunnel = await connectVia(socketPath, `127.0.0.1:${upstream.port}`);
    expect(tunnel.status).toBe(200);
    expect(egress.proxy.stats('s1')).toMatchObject({ upstreams: 1 });

    egress.proxy.setPolicy('s1', policy('full', `127.0.0.1:${upstream.port}`));
    expect(tunnel.socket.destroyed).toBe(false);
    egress.proxy.setPolicy('s1', policy('none'));
    await waitFor(() => tunnel.socket.destroyed || tunnel.socket.readableEnded, 'the tunnel to close');
    expect(refusals).toEqual([`s1 CONNECT 127.0.0.1:${upstream.port} net-none`]);
    expect((await connectVia(socketPath, `127.0.0.1:${upstream.port}`)).status).toBe(403);
    expect(() => egress.proxy.setPolicy('s1', { preset: 'open' } as never)).toThrow();
  });
});
