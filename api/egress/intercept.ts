/**
 * `--inject` (injector.ts): a CONNECT to a host:port with inject rules, already allowed by the
 * policy, is ended here rather than tunnelled. The proxy answers the TLS handshake with the
 * session CA's certificate for that host (session-ca.ts; the machine trusts the CA), reads the
 * HTTP/1.1 requests inside, and sends each on over a new TLS connection, verified for the host,
 * to an address the CONNECT was allowed, with the rule's header set (relay.ts). Only origin-form
 * requests are taken: the host is the CONNECT's, whatever the request names, and the Host sent
 * is that host's — an injected header goes to that upstream and nowhere else (SECURITY.md 43).
 */
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import type { Allowed } from './admit.js';
import type { SessionContext } from './context.js';
import type { SessionCa } from './session-ca.js';
import { relayRequest } from './relay.js';
import { answerRequest } from './responses.js';
import { connectFirst, startTls, UpstreamError } from './upstream.js';

export function interceptTunnel(ctx: SessionContext, ca: SessionCa, client: net.Socket, head: Buffer, allowed: Allowed, injected: Record<string, string>): void {
  const host = allowed.host.host;
  const { cert, key } = ca.leafFor(host);
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) client.unshift(head);
  const secure = new tls.TLSSocket(client, { isServer: true, cert, key, ALPNProtocols: ['http/1.1'] });
  const close = (): void => {
    secure.destroy();
    client.destroy();
  };
  const untrack = ctx.track({ method: 'CONNECT', host: allowed.host, port: allowed.port, addresses: allowed.addresses, close });
  // A client that does not trust the CA, or goes: nothing to answer.
  secure.on('error', close);
  client.on('error', close);
  secure.once('close', () => {
    untrack();
    client.destroy();
  });
  // Silent both ways for the idle limit: closed (an upstream exchange in flight keeps its own).
  secure.setTimeout(ctx.limits.idleTimeoutMs, close);

  const server = http.createServer({ maxHeaderSize: ctx.limits.maxHeaderBytes, requestTimeout: 0, keepAliveTimeout: 5_000 });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => void forwardInside(ctx, req, res, allowed, injected).catch(() => res.destroy()));
  server.on('clientError', (_error, socket) => socket.destroy());
  server.emit('connection', secure);
}

async function forwardInside(ctx: SessionContext, req: http.IncomingMessage, res: http.ServerResponse, allowed: Allowed, injected: Record<string, string>): Promise<void> {
  const path = req.url ?? '';
  if (!path.startsWith('/')) return answerRequest(req, res, 400, `catty: egress: inside a tunnel to ${allowed.host.host} a request names a path only\n`);
  const gone = new AbortController();
  const onGone = (): void => gone.abort();
  res.once('close', onGone);
  let socket: net.Socket;
  try {
    socket = await connectFirst(allowed.addresses, allowed.port, ctx.limits.connectTimeoutMs, gone.signal);
    socket = await startTls(socket, allowed.host.host, ctx.upstreamCa, ctx.limits.connectTimeoutMs);
  } catch (error) {
    res.off('close', onGone);
    const status = error instanceof UpstreamError ? error.status : 502;
    return answerRequest(req, res, status, `catty: egress: ${(error as Error).message}\n`);
  }
  res.off('close', onGone);
  if (res.destroyed) return void socket.destroy();
  relayRequest(ctx, req, res, socket, { ...allowed, tls: true, path, injected });
}
