/**
 * SECURITY.md 42 and 43 (and README cases 53, 54) against the egress proxy itself: the
 * credentials it adds on the way out so the machine never holds them (issue 20, item 5). The
 * model route — an origin-form request, which is what the runtime's bridge passes on when the
 * agent's ANTHROPIC_BASE_URL names it — and `--inject`, a CONNECT the proxy ends with the
 * session's own CA to add a header to each request inside. In-process over the real Unix
 * sockets, loopback upstreams, a static resolver for names. That the values are nowhere inside a
 * real machine is tests/security/egress-credentials-session.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createEgressProxy, MODEL_CREDENTIALS_LOST, staticResolver, type EgressProxyOptions, type SessionCredentials } from '../../api/egress/index.js';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { EGRESS_CA_NAME, EGRESS_SOCKET_NAME } from '../../session-runtime/wire/runtime-env.js';
import { onCleanup } from '../helpers/cleanup.js';
import { connectVia, policy, startUpstream, testCert, viaProxy, type Answer } from '../helpers/egress.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const KEY = 'sk-ant-api03-REAL-key-held-by-the-proxy-0001';
const PLACEHOLDER = 'sk-ant-api03-catty-placeholder';
const resolver = staticResolver({ 'secure.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'], 'lan.test': ['10.0.0.7'] });

/** A proxy (trusting the test certificate for its upstreams) and one session's listener. */
async function session(p: NetworkPolicy, credentials: SessionCredentials | undefined, options: EgressProxyOptions = {}): Promise<{ socketPath: string; dir: string }> {
  const proxy = createEgressProxy({ resolver, upstreamCa: testCert().cert, ...options });
  onCleanup(() => proxy.closeAll());
  const dir = path.join(tempDir('egress-cred'), 's1');
  const socketPath = path.join(dir, EGRESS_SOCKET_NAME);
  await proxy.open('s1', socketPath, p, credentials);
  return { socketPath, dir };
}

const modelRequest = (socketPath: string, headers: http.OutgoingHttpHeaders): Promise<Answer> =>
  viaProxy(socketPath, '/v1/messages?beta=true', { method: 'POST', body: '{"model":"m"}', headers: { 'content-type': 'application/json', ...headers } });

/** CONNECT to `authority`, then an HTTPS request in the tunnel verified for `servername` against `ca`. */
async function httpsThrough(socketPath: string, authority: string, servername: string, ca: string, urlPath: string, headers: http.OutgoingHttpHeaders = {}): Promise<Answer> {
  const tunnel = await connectVia(socketPath, authority);
  if (tunnel.status !== 200) return { status: tunnel.status, headers: {}, body: tunnel.body };
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: servername, path: urlPath, headers, createConnection: () => tls.connect({ socket: tunnel.socket, servername, ca }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('SECURITY.md 42: the model route adds the real credential; the client never needs it', () => {
  it('42/53: a placeholder x-api-key becomes the real key at a loopback upstream, with its Host and path, under --net none', async () => {
    const upstream = await startUpstream();
    const { socketPath } = await session(policy('none'), { model: { apiKey: KEY, baseUrl: `http://127.0.0.1:${upstream.port}/gateway/` }, inject: [] });
    const answer = await modelRequest(socketPath, { 'x-api-key': PLACEHOLDER, authorization: 'Bearer also-a-placeholder', host: 'evil.test' });
    expect(answer).toMatchObject({ status: 200, body: 'hello from /gateway/v1/messages?beta=true' });
    const seen = upstream.seen[0]!;
    expect(seen.headers['x-api-key']).toBe(KEY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen.body).toBe('{"model":"m"}');
    expect(JSON.stringify(seen.headers)).not.toContain('placeholder');
  });

  it('53: an OAuth token goes as Authorization: Bearer, over TLS verified for the name; an untrusted certificate gets a 502 and nothing is sent', async () => {
    const upstream = await startUpstream({ secure: true });
    const creds: SessionCredentials = { model: { oauthToken: 'oauth-REAL-token', baseUrl: `https://secure.test:${upstream.port}` }, inject: [] };
    const { socketPath } = await session(policy('none'), creds);
    expect((await modelRequest(socketPath, { authorization: `Bearer ${PLACEHOLDER}` })).status).toBe(200);
    expect(upstream.seen[0]!.headers).toMatchObject({ authorization: 'Bearer oauth-REAL-token', host: `secure.test:${upstream.port}` });
    expect(upstream.seen[0]!.headers['x-api-key']).toBeUndefined();

    // A proxy that does not trust the test CA: the certificate fails, the token is not sent.
    const strict = await session(policy('full'), creds, { upstreamCa: undefined });
    const refused = await modelRequest(strict.socketPath, { authorization: `Bearer ${PLACEHOLDER}` });
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.body)).toMatchObject({ type: 'error', error: { type: 'api_error', message: expect.stringMatching(/TLS with secure\.test failed/) } });
    expect(upstream.seen).toHaveLength(1);
  });

  it('53: plain HTTP carries the credential only to a loopback upstream', async () => {
    const { socketPath } = await session(policy('full'), { model: { apiKey: KEY, baseUrl: 'http://lan.test:8080' }, inject: [] });
    const answer = await modelRequest(socketPath, { 'x-api-key': PLACEHOLDER });
    expect(answer.status).toBe(502);
    expect(answer.body).toContain('plain HTTP only to a loopback address');
  });

  it('53: server-sent events flow through as they come, not when the response ends', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const upstream = await startUpstream({
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {}\n\n');
        void released.then(() => res.end('event: message_stop\ndata: {}\n\n'));
      },
    });
    const { socketPath } = await session(policy('none'), { model: { apiKey: KEY, baseUrl: `http://127.0.0.1:${upstream.port}` }, inject: [] });
    const received: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath, path: '/v1/messages', method: 'POST', agent: false, headers: { 'x-api-key': PLACEHOLDER } }, (res) => {
        res.on('data', (c: Buffer) => received.push(c.toString()));
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end('{"stream":true}');
    });
    await waitFor(() => received.join('').includes('message_start'), 'the first event before the response ends');
    expect(received.join('')).not.toContain('message_stop');
    release();
    await done;
    expect(received.join('')).toContain('message_stop');
  });

  it('53: a redirect is passed back, not followed: the key reaches the model upstream only', async () => {
    const elsewhere = await startUpstream();
    const upstream = await startUpstream({ handler: (_req, res) => res.writeHead(307, { location: `http://127.0.0.1:${elsewhere.port}/steal` }).end() });
    const { socketPath } = await session(policy('full', `127.0.0.1:${elsewhere.port}`), { model: { apiKey: KEY, baseUrl: `http://127.0.0.1:${upstream.port}` }, inject: [] });
    const answer = await modelRequest(socketPath, { 'x-api-key': PLACEHOLDER });
    expect(answer.status).toBe(307);
    expect(upstream.seen).toHaveLength(1);
    expect(elsewhere.seen).toEqual([]);
    // Absolute-form to another host is a plain proxy request: nothing added.
    await viaProxy(socketPath, `http://127.0.0.1:${elsewhere.port}/direct`, { headers: { 'x-api-key': PLACEHOLDER } });
    expect(elsewhere.seen[0]!.headers['x-api-key']).toBe(PLACEHOLDER);
  });

  it('53: without model credentials the route answers why in the API\'s error shape: none given, or lost with a restarted proxy', async () => {
    const none = await session(policy('trusted'), { inject: [] });
    const answer = await modelRequest(none.socketPath, { 'x-api-key': PLACEHOLDER });
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: expect.stringContaining('no model credentials at the egress proxy') } });

    const restarted = await session(policy('trusted'), undefined);
    const lost = await modelRequest(restarted.socketPath, { 'x-api-key': PLACEHOLDER });
    expect(lost.status).toBe(401);
    expect(JSON.parse(lost.body).error.message).toBe(`catty: ${MODEL_CREDENTIALS_LOST}`);
    expect(lost.body).toContain('start a new session');
  });
});

describe('SECURITY.md 42, 43: --inject ends TLS with the session CA and adds the header for that host only', () => {
  async function injectSession() {
    const upstream = await startUpstream({ secure: true });
    const rule = { host: 'secure.test', port: upstream.port, header: 'authorization', value: 'Bearer gh-REAL-token' };
    const s = await session(policy('none', `secure.test:${upstream.port}`, `other.test:${upstream.port}`), { inject: [rule] });
    return { upstream, ...s, ca: fs.readFileSync(path.join(s.dir, EGRESS_CA_NAME), 'utf8') };
  }

  it('42/54: the header is added inside the tunnel, the client\'s own replaced, Host always the target\'s; the CA is public, its key is not written', async () => {
    const { upstream, socketPath, dir, ca } = await injectSession();
    const answer = await httpsThrough(socketPath, `secure.test:${upstream.port}`, 'secure.test', ca, '/repos?x=1', { authorization: 'Bearer placeholder', host: 'other.test' });
    expect(answer).toMatchObject({ status: 200, body: 'hello from /repos?x=1' });
    expect(upstream.seen[0]!.headers).toMatchObject({ authorization: 'Bearer gh-REAL-token', host: `secure.test:${upstream.port}` });

    expect(fs.readdirSync(dir).sort()).toEqual([EGRESS_CA_NAME, EGRESS_SOCKET_NAME]);
    expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(ca).not.toMatch(/PRIVATE KEY/);
    expect(fs.statSync(path.join(dir, EGRESS_CA_NAME)).mode & 0o777).toBe(0o644);
    // Name-constrained to the inject hosts.
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: ca }).toString();
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:secure\.test\s/);
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
  });

  it('43: another host — even one on the same address and port — gets an opaque tunnel and no header; a request naming another host inside still goes to the CONNECT\'s', async () => {
    const { upstream, socketPath, ca } = await injectSession();
    // other.test is tunnelled as it is: the upstream's own certificate answers, not the session CA's.
    const other = await httpsThrough(socketPath, `other.test:${upstream.port}`, 'localhost', testCert().cert, '/o', { authorization: 'Bearer mine' });
    expect(other.status).toBe(200);
    expect(upstream.seen[0]!.headers.authorization).toBe('Bearer mine');
    await expect(httpsThrough(socketPath, `other.test:${upstream.port}`, 'other.test', ca, '/o')).rejects.toThrow();

    const tunnel = await connectVia(socketPath, `secure.test:${upstream.port}`);
    const secure = tls.connect({ socket: tunnel.socket, servername: 'secure.test', ca });
    await new Promise((resolve) => secure.once('secureConnect', resolve));
    secure.write(`GET http://other.test:${upstream.port}/abs HTTP/1.1\r\nhost: other.test\r\n\r\n`);
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      secure.on('data', (c: Buffer) => (text += c.toString()));
      secure.on('close', () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply).toContain('names a path only');
    expect(upstream.seen).toHaveLength(1);
  });

  it('43: an inject host outside the policy is refused at CONNECT like any other; a new policy closes an open intercepted tunnel', async () => {
    const upstream = await startUpstream({ secure: true });
    const rule = { host: 'secure.test', port: upstream.port, header: 'x-api-key', value: 'REAL' };
    const proxy = createEgressProxy({ resolver, upstreamCa: testCert().cert });
    onCleanup(() => proxy.closeAll());
    const dir = path.join(tempDir('egress-cred'), 's1');
    const socketPath = path.join(dir, EGRESS_SOCKET_NAME);
    await proxy.open('s1', socketPath, policy('none'), { inject: [rule] });
    expect((await connectVia(socketPath, `secure.test:${upstream.port}`)).status).toBe(403);

    proxy.setPolicy('s1', policy('none', `secure.test:${upstream.port}`));
    const tunnel = await connectVia(socketPath, `secure.test:${upstream.port}`);
    const secure = tls.connect({ socket: tunnel.socket, servername: 'secure.test', ca: fs.readFileSync(path.join(dir, EGRESS_CA_NAME)) });
    await new Promise((resolve) => secure.once('secureConnect', resolve));
    proxy.setPolicy('s1', policy('none'));
    await waitFor(() => secure.destroyed || secure.readableEnded, 'the intercepted tunnel to close');
    expect(upstream.seen).toEqual([]);
  });

  it('a session without inject rules gets no CA', async () => {
    const { dir } = await session(policy('trusted'), { model: { apiKey: KEY }, inject: [] });
    expect(fs.readdirSync(dir)).toEqual([EGRESS_SOCKET_NAME]);
  });
});

// A model-route connection is the session's own: a new policy does not cut it.
describe('the model route and policy changes', () => {
  it('53: a stream in flight survives a policy change to none', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const upstream = await startUpstream({
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: 1\n\n');
        void released.then(() => res.end('data: 2\n\n'));
      },
    });
    const proxy = createEgressProxy({ resolver });
    onCleanup(() => proxy.closeAll());
    const socketPath = path.join(tempDir('egress-cred'), 's1', EGRESS_SOCKET_NAME);
    await proxy.open('s1', socketPath, policy('full'), { model: { apiKey: KEY, baseUrl: `http://127.0.0.1:${upstream.port}` }, inject: [] });
    let text = '';
    const ended = new Promise<void>((resolve) => {
      const socket = net.connect(socketPath);
      socket.write('POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve());
      socket.on('end', () => socket.end());
    });
    await waitFor(() => text.includes('data: 1'), 'the first event');
    proxy.setPolicy('s1', policy('none'));
    release();
    await waitFor(() => text.includes('data: 2'), 'the rest of the stream');
    expect(proxy.refusals('s1')).toEqual([]);
    void ended;
  });
});
