/**
 * The model route (injector.ts): an origin-form request on a session's listener — the agent's
 * base URL is the runtime's bridge, so Claude Code sends `POST /v1/messages` (Codex
 * `POST /responses`, Gemini CLI `POST /v1beta/models/…`) as to a server — goes to the session's
 * model upstream (its agent's API, or the user's own base URL) with the real credential in place of the
 * placeholder. Open under every policy while the session has model credentials; the upstream's
 * name is resolved here and connected to by address like any other, TLS verified for the name
 * (plain HTTP only to loopback). The answer streams back as it comes (server-sent events).
 *
 * Without model credentials the client gets a 401 in the Messages API's own error shape (whose
 * `error.message` the OpenAI and Gemini clients read too), so the agent shows the reason: the session was started without them, or the proxy was
 * restarted and, keeping them in memory only, no longer has them (catty-node reopens such a
 * session with empty credentials, so that text names both; a listener opened with none at all
 * names the restart alone).
 */
import type http from 'node:http';
import type net from 'node:net';
import { normaliseHost, type Host } from '../../session-runtime/wire/host-name.js';
import type { SessionContext } from './context.js';
import { hasModelRoute } from './credentials.js';
import { MODEL_AUTH_HEADERS, modelApiOf, modelAuthHeaders, parseModelUpstream, plainModelAllowed } from './injector.js';
import { relayRequest } from './relay.js';
import { connectFirst, startTls, UpstreamError } from './upstream.js';

export const NO_MODEL_CREDENTIALS = "this session has no model credentials at the egress proxy: it was started without its agent's key secret (ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN for Claude Code, OPENAI_API_KEY for Codex, GEMINI_API_KEY for Gemini CLI), or the proxy lost them in a restart (they are kept in memory only, never on disk) — set one (catty secrets set NAME) and start a new session (catty new)";
export const MODEL_CREDENTIALS_LOST = "the egress proxy was restarted and no longer holds this session's model credentials (they are kept in memory only, never on disk): start a new session (catty new)";

export async function forwardModelRequest(ctx: SessionContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const model = ctx.credentials?.model;
  if (!hasModelRoute(model)) return answerModelError(req, res, 401, 'authentication_error', ctx.credentials ? NO_MODEL_CREDENTIALS : MODEL_CREDENTIALS_LOST);
  const api = modelApiOf(model);
  const upstream = parseModelUpstream(model.baseUrl, api.defaultUrl, api.baseUrlSecret);
  if ('problem' in upstream) return answerModelError(req, res, 502, 'api_error', upstream.problem);
  const path = (req.url ?? '/').replace(/#.*$/s, '');
  if (path.length > 8 * 1024) return answerModelError(req, res, 414, 'invalid_request_error', 'the request target is too long');

  let addresses: string[];
  const host = normaliseHost(upstream.host) as Host;
  try {
    addresses = host.kind === 'ip' ? [host.host] : await ctx.resolver.lookup(host.host);
  } catch (error) {
    return answerModelError(req, res, 502, 'api_error', `cannot resolve the model host ${host.host} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!upstream.tls && !plainModelAllowed(addresses)) {
    return answerModelError(req, res, 502, 'api_error', `the model credentials go over plain HTTP only to a loopback address, and ${host.host} is not one: use https:// in ${api.baseUrlSecret}`);
  }

  const gone = new AbortController();
  const onGone = (): void => gone.abort();
  res.once('close', onGone);
  let socket: net.Socket;
  try {
    socket = await connectFirst(addresses, upstream.port, ctx.limits.connectTimeoutMs, gone.signal);
    if (upstream.tls) socket = await startTls(socket, host.host, ctx.upstreamCa, ctx.limits.connectTimeoutMs);
  } catch (error) {
    res.off('close', onGone);
    const status = error instanceof UpstreamError ? error.status : 502;
    return answerModelError(req, res, status, 'api_error', `the model API: ${(error as Error).message}`);
  }
  res.off('close', onGone);
  if (res.destroyed) return void socket.destroy();
  const sent = new Set(MODEL_AUTH_HEADERS.filter((header) => req.headers[header] !== undefined));
  relayRequest(ctx, req, res, socket, {
    host,
    port: upstream.port,
    addresses,
    tls: upstream.tls,
    path: upstream.pathPrefix + path,
    injected: modelAuthHeaders(model, sent),
    drop: MODEL_AUTH_HEADERS,
    policyExempt: true,
  });
}

/**
 * An error as the Messages API words one (`{type:"error", error:{type, message}}`), from catty.
 * A 4xx is final: `x-should-retry: false` (the API's own header, which Claude Code and the SDKs
 * obey) has the client show it at once — without it Claude Code retries a 401 ten times, for
 * minutes, before the reason reaches the screen. A 5xx (an upstream not reachable now) may pass.
 */
function answerModelError(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ type: 'error', error: { type, message: `catty: ${message}` } });
  if (res.headersSent) return void res.destroy();
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
    ...(status < 500 ? { 'x-should-retry': 'false' } : {}),
  });
  res.end(body);
  if (!req.complete) res.once('finish', () => req.socket.destroySoon());
}
