/**
 * The HTTP half of the relay: `POST upload`, `GET logs` and `GET git-bundle`, streamed with
 * node:http both ways.
 *
 * No buffering: the client's body is piped into the runtime's request (`pipe` pauses the
 * client's socket whenever the runtime's socket is full, so the API holds at most a socket
 * buffer or two), and the runtime's answer is piped back with its status. Content-Length is
 * forwarded when the client sent one; otherwise node sends the body chunked, as received.
 */
import http from 'node:http';
import type { Logger } from '../logger.js';
import type { ErrorBody } from '../../session-runtime/wire/errors.js';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { openRuntimeRequest } from '../services/runtime-client.js';

/** The runtime's socket may stay silent this long (it extracts a big upload before answering)
 * before the relay gives up with a 504. */
const IDLE_TIMEOUT_MS = 5 * 60_000;

/** Request headers worth passing on; everything else (cookies, hop-by-hop) stays here. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'content-length'] as const;
/** Response headers passed back; hop-by-hop ones (connection, transfer-encoding) are node's. */
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'content-length', 'cache-control'] as const;

export function sendJsonError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body: ErrorBody = { error: { code, message } };
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface HttpRelayTarget {
  /** The runtime's base URL (e.g. http://127.0.0.1:41234), and its socket or TLS when it has one. */
  runtime: RuntimeEndpoint;
  connectToken: string;
  /** `/upload?cols=…` or `/logs`: the runtime's path and the client's query, unchanged. */
  pathAndQuery: string;
}

export function relayHttp(req: http.IncomingMessage, res: http.ServerResponse, target: HttpRelayTarget, logger: Logger): void {
  const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${target.connectToken}` };
  for (const name of FORWARDED_REQUEST_HEADERS) if (req.headers[name] !== undefined) headers[name] = req.headers[name];
  // Under the runtime's base path: a cluster node's is /v1/machines/<id>/runtime.
  const upstream = openRuntimeRequest(target.runtime, target.pathAndQuery, { method: req.method, headers });
  let answered = false;

  const fail = (status: number, code: string, message: string, err?: unknown): void => {
    if (answered) return;
    answered = true;
    logger.warn({ err, status }, `relay: ${message}`);
    req.unpipe(upstream);
    upstream.destroy();
    if (res.headersSent) return void res.destroy();
    res.setHeader('connection', 'close');
    sendJsonError(res, status, code, message);
    // The client may still be sending; we answered, so stop reading and let the socket close.
    req.resume();
  };

  upstream.on('response', (upRes) => {
    answered = true;
    const out: http.OutgoingHttpHeaders = {};
    for (const name of FORWARDED_RESPONSE_HEADERS) if (upRes.headers[name] !== undefined) out[name] = upRes.headers[name];
    if (!req.readableEnded) {
      // The runtime answered before taking the whole body (a refusal): stop forwarding it, and
      // do not reuse the client's connection with a half-read body on it.
      req.unpipe(upstream);
      out.connection = 'close';
      req.resume();
    }
    logger.debug({ status: upRes.statusCode, path: target.pathAndQuery.split('?')[0] }, 'relay: runtime answered');
    res.writeHead(upRes.statusCode ?? 502, out);
    upRes.pipe(res);
    upRes.on('error', () => res.destroy());
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    // EPIPE/ECONNRESET mid-body: the runtime answered early (a second upload, one too big) and
    // closed while we were still sending; node loses that answer with the socket. Still a 502,
    // so the CLI says the upload failed, but one that says what most likely happened.
    if (err.code === 'EPIPE' || err.code === 'ECONNRESET') {
      return fail(502, 'runtime_closed', 'the session runtime closed the connection before taking the whole body (it refuses a second upload and oversized ones)', err);
    }
    fail(502, 'runtime_unreachable', 'the session runtime did not answer', err);
  });
  upstream.setTimeout(IDLE_TIMEOUT_MS, () => fail(504, 'runtime_timeout', 'the session runtime did not answer in time'));
  // The client went away mid-request or mid-response: drop the runtime's side too.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.on('error', () => upstream.destroy());
  req.pipe(upstream);
}
