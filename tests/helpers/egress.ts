/**
 * The egress proxy under test (api/egress/), and clients that talk to it the way a sandboxed
 * tool does: plain HTTP in absolute form and CONNECT over the session's Unix socket, then TLS
 * inside the tunnel. Upstreams are loopback servers; names come from a static resolver (there
 * is no DNS here). Everything started is stopped when the test (or file) ends.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { createEgressProxy, type EgressProxy, type EgressProxyOptions } from '../../api/egress/index.js';
import { parseAllowList } from '../../session-runtime/wire/network-allow.js';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { onCleanup } from './cleanup.js';
import { closeServer, listenLoopback } from './loopback.js';
import { tempDir } from './temp-dir.js';

export const policy = (preset: NetworkPolicy['preset'], ...allow: string[]): NetworkPolicy => ({ preset, allow: parseAllowList(allow) });

export interface TestEgress {
  proxy: EgressProxy;
  /** Opens a session's listener and returns its socket path. */
  open(sessionId: string, policy: NetworkPolicy): Promise<string>;
}

export function startEgress(options: EgressProxyOptions = {}): TestEgress {
  const dir = tempDir('egress');
  const proxy = createEgressProxy({ upstreamCa: testCert().cert, ...options });
  onCleanup(() => proxy.closeAll());
  return {
    proxy,
    async open(sessionId, p) {
      const socketPath = path.join(dir, `${sessionId}.sock`);
      await proxy.open(sessionId, socketPath, p);
      return socketPath;
    },
  };
}

let cert: { key: string; cert: string } | undefined;

/** A self-signed certificate for `secure.test`, `localhost` and 127.0.0.1 (openssl, once per file). */
export function testCert(): { key: string; cert: string } {
  if (cert) return cert;
  const dir = tempDir('cert');
  const [keyFile, certFile] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=secure.test',
    '-addext', 'subjectAltName=DNS:secure.test,DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  cert = { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') };
  return cert;
}

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback HTTP (or, with `secure`, HTTPS) server that records each request and answers
 * `handler`'s text (default: "hello from <path>"). */
export async function startUpstream(options: { secure?: boolean; handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void } = {}) {
  const seen: Seen[] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (options.handler) return options.handler(req, res);
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close', 'keep-alive': 'timeout=99, max=7', 'x-upstream': 'yes' });
      res.end(`hello from ${req.url}`);
    });
  };
  const server = options.secure ? https.createServer(testCert(), listener) : http.createServer(listener);
  const { port } = await listenLoopback(server);
  onCleanup(() => closeServer(server));
  return { port, seen, server };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A plain request through the proxy: `url` is the absolute URI (the request target). */
export function viaProxy(socketPath: string, url: string, options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string; agent?: http.Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: url, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Sends raw bytes to the proxy and resolves with everything it answers until it closes. */
export function rawExchange(socketPath: string, request: string | Buffer, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString().slice(0, 200))}`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
    socket.write(request);
  });
}

/** CONNECT `authority` through the proxy; on 200 the socket is the tunnel. */
export function connectVia(socketPath: string, authority: string, headers: Record<string, string> = {}): Promise<{ status: number; head: string; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffered = Buffer.alloc(0);
    const lines = Object.entries({ host: authority, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`CONNECT ${authority} HTTP/1.1\r\n${lines}\r\n`);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      socket.off('data', onData);
      if (status === 200) return resolve({ status, head, body: '', socket });
      // A refusal: the rest is its text body, then the proxy closes.
      let rest = buffered.subarray(end + 4);
      socket.on('data', (c: Buffer) => (rest = Buffer.concat([rest, c])));
      socket.on('close', () => resolve({ status, head, body: rest.toString(), socket }));
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

/** An HTTPS GET inside an open tunnel, verified for `servername` against the test certificate. */
export function httpsInTunnel(tunnel: net.Socket, servername: string, urlPath: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: servername,
        path: urlPath,
        // No agent: the request uses this one connection (an agent would open its own).
        createConnection: () => tls.connect({ socket: tunnel, servername: net.isIP(servername) ? undefined : servername, host: servername, ca: testCert().cert }),
      },
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
