/**
 * The API's way to an attached machine's runtime (cluster mode): any request under
 * `/v1/machines/<id>/runtime` goes to that machine's runtime.sock with the rest of its path and
 * query, its headers but the hop-by-hop ones (and those its Connection header names), and the
 * answer comes back the same way, both bodies piped (a full side pauses the other). A WebSocket
 * upgrade is passed on as its request head and then spliced byte for byte: the runtime answers
 * the handshake, and its frames and the API's flow through untouched.
 *
 * Only the API reaches this (mutual TLS): its requests carry the session's connect token, which
 * the runtime checks. The node only chooses the socket, by the attached machine's id.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';

/** A runtime silent this long either way (a relayed terminal pings every 15 s) is cut. */
const IDLE_TIMEOUT_MS = 5 * 60_000;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/** The headers to pass on: `raw` (name, value, name, value…) without this hop's own. */
function passedPairs(raw: string[], connection: string | string[] | undefined): Array<[string, string]> {
  const named = new Set(
    String(connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) out.push([name, raw[i + 1]!]);
  }
  return out;
}

/** The same as node's header object (a repeated header's values in an array). */
function passedHeaders(raw: string[], connection: string | string[] | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of passedPairs(raw, connection)) {
    const had = out[name];
    out[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  return out;
}

function answer(res: http.ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

/** `pathAndQuery`: the runtime's own (`/upload?cols=80`). */
export function proxyRuntimeHttp(req: http.IncomingMessage, res: http.ServerResponse, socketPath: string, pathAndQuery: string, logger: Logger): void {
  const headers = { ...passedHeaders(req.rawHeaders, req.headers.connection), host: 'localhost' };
  const upstream = http.request({ socketPath, path: pathAndQuery, method: req.method, headers, agent: false });
  upstream.on('response', (up) => {
    res.writeHead(up.statusCode ?? 502, passedHeaders(up.rawHeaders, up.headers.connection));
    up.pipe(res);
    up.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => {
    logger.warn({ err: err.message, path: pathAndQuery.split('?')[0] }, 'runtime proxy: the runtime did not answer');
    answer(res, 502, 'runtime_unreachable', 'the session runtime did not answer');
    req.resume();
  });
  upstream.setTimeout(IDLE_TIMEOUT_MS, () => upstream.destroy(new Error('idle')));
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.on('error', () => upstream.destroy());
  req.pipe(upstream);
}

/** A WebSocket upgrade: the request head rewritten for the runtime, then both ways spliced. */
export function proxyRuntimeUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, socketPath: string, pathAndQuery: string): void {
  const lines = [`${req.method ?? 'GET'} ${pathAndQuery} HTTP/1.1`, 'Host: localhost', 'Connection: Upgrade', `Upgrade: ${req.headers.upgrade ?? 'websocket'}`];
  for (const [name, value] of passedPairs(req.rawHeaders, req.headers.connection)) lines.push(`${name}: ${value}`);
  const upstream = net.connect(socketPath);
  upstream.setTimeout(IDLE_TIMEOUT_MS, () => upstream.destroy());
  upstream.once('connect', () => {
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  upstream.on('error', () => {
    if (!socket.destroyed && upstream.bytesRead === 0) {
      const body = JSON.stringify({ error: { code: 'runtime_unreachable', message: 'the session runtime did not answer' } });
      socket.end(`HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    } else socket.destroy();
  });
  upstream.on('close', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
  socket.on('close', () => upstream.destroy());
}
