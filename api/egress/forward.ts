/**
 * Plain HTTP through the proxy: an absolute-form request (`GET http://host/path`) is judged on
 * the URI's host and port, sent over a fresh connection to an address the policy allowed, with
 * the end-to-end headers only and the target's Host (headers.ts), and its answer streamed back.
 * An origin-form request (`POST /v1/messages`) is the model route instead (model-route.ts).
 *
 * One upstream connection per request, never pooled, the answer's body read raw into the
 * exchange's buffer (plain-exchange.ts). The client's connection to the proxy may stay open for
 * its next request (node's keep-alive), judged afresh.
 */
import type http from 'node:http';
import type net from 'node:net';
import { admit } from './admit.js';
import type { SessionContext } from './context.js';
import { forwardModelRequest } from './model-route.js';
import { exchangePlain } from './plain-exchange.js';
import { createReadRelay } from './read-relay.js';
import { answerRequest } from './responses.js';
import { parseHttpTarget } from './target.js';
import { connectFirst, UpstreamError } from './upstream.js';

export async function forwardRequest(ctx: SessionContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if ((req.url ?? '').startsWith('/')) return forwardModelRequest(ctx, req, res);
  const target = parseHttpTarget(req.url ?? '');
  if ('problem' in target) return answerRequest(req, res, 400, `catty: egress: ${target.problem}\n`);
  const method = req.method ?? 'GET';
  const admission = await admit(ctx, method, target.host, target.port);
  if (!admission.ok) return answerRequest(req, res, admission.status, admission.body);
  const { allowed } = admission;

  const gone = new AbortController();
  const onGone = (): void => gone.abort();
  res.once('close', onGone);
  const answer = createReadRelay(ctx.limits.relayBufferBytes);
  let socket: net.Socket;
  try {
    socket = await connectFirst(allowed.addresses, allowed.port, ctx.limits.connectTimeoutMs, gone.signal, answer.onread);
  } catch (error) {
    answer.release();
    res.off('close', onGone);
    const status = error instanceof UpstreamError ? error.status : 502;
    return answerRequest(req, res, status, `catty: egress: ${(error as Error).message}\n`);
  }
  res.off('close', onGone);
  if (res.destroyed) {
    answer.release();
    return void socket.destroy();
  }
  exchangePlain(ctx, req, res, socket, answer, { ...allowed, tls: false, path: target.path, injected: {} });
}
