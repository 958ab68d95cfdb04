/**
 * Plain HTTP through the proxy: an absolute-form request (`GET http://host/path`) is judged on
 * the URI's host and port, sent over a fresh connection to an address the policy allowed, with
 * the end-to-end headers only and the target's Host (headers.ts), and its answer streamed back.
 * This is the one place the proxy ends a request itself, so it is where the injector
 * (injector.ts) may send it to another upstream with headers added.
 *
 * One upstream connection per request, never pooled: a connection opened for one host (and,
 * later, carrying one host's credentials) is never reused for another. The client's connection
 * to the proxy may stay open for its next request (node's keep-alive), judged afresh.
 */
import http from 'node:http';
import type net from 'node:net';
import { normaliseHost, type Host } from '../../session-runtime/wire/host-name.js';
import { admit } from './admit.js';
import type { SessionContext } from './context.js';
import { endToEnd, hostHeader } from './headers.js';
import { plainInjectionAllowed, type Rewrite } from './injector.js';
import { answerRequest } from './responses.js';
import { parseHttpTarget } from './target.js';
import { connectFirst, startTls, UpstreamError } from './upstream.js';

export async function forwardRequest(ctx: SessionContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const target = parseHttpTarget(req.url ?? '');
  if ('problem' in target) return answerRequest(req, res, 400, `catty: egress: ${target.problem}\n`);
  const method = req.method ?? 'GET';
  const normalised = normaliseHost(target.host);
  const rewrite: Rewrite | null = 'problem' in normalised ? null : ctx.injector.rewrite({ sessionId: ctx.sessionId, method, host: normalised.host, port: target.port, path: target.path });
  const upstream = rewrite?.upstream ?? { host: target.host, port: target.port, tls: false };

  const admission = await admit(ctx, method, upstream.host, upstream.port);
  if (!admission.ok) return answerRequest(req, res, admission.status, admission.body);
  const { allowed } = admission;
  if (rewrite && !upstream.tls && !plainInjectionAllowed(allowed.named, allowed.addresses)) {
    return answerRequest(req, res, 502, `catty: egress: headers for ${allowed.host.host} are sent over plain HTTP only to a loopback host named with --allow\n`);
  }

  const gone = new AbortController();
  const onGone = (): void => gone.abort();
  res.once('close', onGone);
  let socket: net.Socket;
  try {
    socket = await connectFirst(allowed.addresses, allowed.port, ctx.limits.connectTimeoutMs, gone.signal);
    if (upstream.tls) socket = await startTls(socket, allowed.host.host, ctx.upstreamCa, ctx.limits.connectTimeoutMs);
  } catch (error) {
    res.off('close', onGone);
    const status = error instanceof UpstreamError ? error.status : 502;
    return answerRequest(req, res, status, `catty: egress: ${(error as Error).message}\n`);
  }
  res.off('close', onGone);
  if (res.destroyed) return void socket.destroy();
  relay(ctx, req, res, socket, { ...allowed, tls: upstream.tls, path: target.path, injected: rewrite?.headers ?? {} });
}

interface Outgoing {
  host: Host;
  port: number;
  addresses: string[];
  tls: boolean;
  path: string;
  injected: Record<string, string>;
}

function relay(ctx: SessionContext, req: http.IncomingMessage, res: http.ServerResponse, socket: net.Socket, out: Outgoing): void {
  const headers = endToEnd(req.headersDistinct);
  // A body the client sent chunked goes on chunked (node frames it again); node needs telling
  // for methods it does not expect a body with.
  if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  for (const [name, value] of Object.entries(out.injected)) headers[name.toLowerCase()] = value;
  headers.host = hostHeader(out.host.host, out.port, out.tls);

  let upstream: http.ClientRequest;
  try {
    upstream = http.request({ createConnection: () => socket, method: req.method, path: out.path, headers, setHost: false });
  } catch (error) {
    // node refuses a path or header value it could not send (a control character, say).
    socket.destroy();
    return answerRequest(req, res, 400, `catty: egress: the request cannot be forwarded (${(error as NodeJS.ErrnoException).code ?? 'invalid'})\n`);
  }
  const close = (): void => {
    upstream.destroy();
    res.destroy();
  };
  const untrack = ctx.track({ method: req.method ?? 'GET', host: out.host, port: out.port, addresses: out.addresses, close });
  socket.setTimeout(ctx.limits.idleTimeoutMs, () => {
    if (!res.headersSent) answerRequest(req, res, 504, `catty: egress: ${hostHeader(out.host.host, out.port, out.tls)} sent nothing for ${ctx.limits.idleTimeoutMs} ms\n`);
    close();
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    untrack();
    if (!res.headersSent) answerRequest(req, res, 502, `catty: egress: ${hostHeader(out.host.host, out.port, out.tls)} failed (${error.code ?? 'error'})\n`);
    else res.destroy();
  });
  upstream.on('response', (answer) => {
    try {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headersDistinct));
    } catch {
      answerRequest(req, res, 502, `catty: egress: ${hostHeader(out.host.host, out.port, out.tls)} answered with a header node cannot pass on\n`);
      return void upstream.destroy();
    }
    answer.pipe(res);
    answer.on('error', close);
  });
  // The client gone before the answer is complete: nothing left to deliver.
  res.once('close', () => {
    untrack();
    if (!res.writableFinished) upstream.destroy();
    socket.destroy();
  });
  req.pipe(upstream);
}
