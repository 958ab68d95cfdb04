/**
 * How every request the proxy ends itself goes upstream — a plain request (forward.ts), the model
 * route (model-route.ts), a request inside an intercepted `--inject` tunnel (intercept.ts): over
 * a connection opened for it alone (never pooled: a connection opened for one host, carrying one
 * host's credentials, is never reused for another), with the end-to-end headers only, the
 * headers the proxy adds, and the upstream's Host (headers.ts); the answer streamed back as it
 * arrives, redirects included as they are (nothing is followed).
 */
import http from 'node:http';
import type net from 'node:net';
import type { Host } from '../../session-runtime/wire/host-name.js';
import type { SessionContext } from './context.js';
import { endToEnd, hostHeader } from './headers.js';
import { answerRequest } from './responses.js';

/** Where a request goes, and what the proxy adds to it. */
export interface Outgoing {
  host: Host;
  port: number;
  addresses: string[];
  tls: boolean;
  path: string;
  /** Set on the request, replacing any header of the same name the client sent. */
  injected: Record<string, string>;
  /** Client headers dropped before `injected` is set (the model route's placeholders). */
  drop?: readonly string[];
  /** The model route's upstream: a new policy leaves it open. */
  policyExempt?: boolean;
}

/** Sends `req` over `socket` (connected, TLS already started when `out.tls`) and streams the answer back. */
export function relayRequest(ctx: SessionContext, req: http.IncomingMessage, res: http.ServerResponse, socket: net.Socket, out: Outgoing): void {
  const headers = endToEnd(req.headersDistinct);
  // A body the client sent chunked goes on chunked (node frames it again); node needs telling
  // for methods it does not expect a body with.
  if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  for (const name of out.drop ?? []) delete headers[name];
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
  const untrack = ctx.track({ method: req.method ?? 'GET', host: out.host, port: out.port, addresses: out.addresses, policyExempt: out.policyExempt, close });
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
