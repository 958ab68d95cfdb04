/**
 * The WebSocket half of the relay: `GET /v1/sessions/<id>/runtime/connect` with an upgrade (the
 * CLI, with the connect token), and the browsers' terminals (issue 24: WEB_CONNECT_PATH and
 * SHARE_CONNECT_PATH, browser.ts).
 *
 * Order matters: authorize (JSON 401/404/409 on the raw socket, nothing forwarded), open the
 * runtime's `/connect` (with the CLI's query unchanged; a browser's rebuilt by browser.ts), and
 * only once the runtime accepted complete the client's upgrade. A runtime refusal is passed back
 * with its status and body, so the client sees what it would have seen talking to the runtime
 * directly; an unreachable runtime is a 502 (which the CLI treats as transient and retries).
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { Deps } from '../deps.js';
import { MAX_FRAME_BYTES } from '../../session-runtime/wire/protocol.js';
import { runtimeUrl } from '../../session-runtime/wire/runtime-address.js';
import { authorizeRelay } from './authorize.js';
import { refuse, refuseJson } from './refusals.js';
import { createBrowserRelay, type BrowserRelayOptions } from './browser.js';
import { matchBrowserPath, matchRelayPath } from './paths.js';
import type { RelayTo } from './relay-to.js';
import { pairSockets, type PairOptions, type RelayPair } from './ws-relay.js';

/** The runtime must accept the upgrade within this long. */
const UPSTREAM_HANDSHAKE_TIMEOUT_MS = 10_000;
/** A runtime's refusal body is tiny JSON; anything longer is cut. */
const MAX_REFUSAL_BODY_BYTES = 4096;
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

export interface UpgradeRelay {
  /** The http server's `upgrade` listener. */
  onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every relayed connection with 1001 and waits (bounded) for them to end. */
  close(): Promise<void>;
}


export function createUpgradeRelay(
  deps: Pick<Deps, 'db' | 'key' | 'logger' | 'now' | 'publicUrl'> & Partial<Pick<Deps, 'provisioner'>>,
  pairOptions: PairOptions = {},
  browserOptions: BrowserRelayOptions = {},
): UpgradeRelay {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const pairs = new Set<RelayPair>();
  const connecting = new Set<WebSocket>();
  let closing = false;
  const browsers = createBrowserRelay(deps, relayAuthorized, pairOptions, browserOptions);

  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://api');
    const target = matchRelayPath(url.pathname);
    const browser = target ? null : matchBrowserPath(url.pathname);
    if (!browser && (!target || target.op !== 'connect')) return refuseJson(socket, 404, 'not_found', 'no WebSocket here');
    if (closing) return refuseJson(socket, 503, 'shutting_down', 'the API is restarting');
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !WS_KEY.test(req.headers['sec-websocket-key'] ?? '') || req.headers['sec-websocket-version'] !== '13') {
      return refuseJson(socket, 400, 'invalid_request', 'not a valid WebSocket upgrade');
    }
    if (browser) return browsers.onUpgrade(req, socket, head, url, browser);
    const sessionId = target!.sessionId;
    authorizeRelay(deps, sessionId, req.headers.authorization).then(
      (auth) => {
        if (!auth.ok) return refuseJson(socket, auth.status, auth.code, auth.message);
        relayAuthorized(req, socket, head, { sessionId, runtime: auth.runtime, connectToken: auth.connectToken, pathAndQuery: `/connect${url.search}`, server: wss, pairOptions });
      },
      (err: unknown) => {
        deps.logger.error({ err }, 'relay authorization failed');
        refuseJson(socket, 500, 'internal', 'internal error');
      },
    );
  }

  /** The upgrade once it was authorized (authorize.ts, browser-auth.ts). */
  function relayAuthorized(req: http.IncomingMessage, socket: Duplex, head: Buffer, to: RelayTo): void {
    let done = false;
    const settle = (pair: RelayPair | null): void => {
      if (done) return;
      done = true;
      to.onDone?.(pair);
    };
    if (closing) {
      settle(null);
      return refuseJson(socket, 503, 'shutting_down', 'the API is restarting');
    }

    const log = deps.logger.child({ sessionId: to.sessionId });
    // Under the runtime's base path (a cluster node's: /v1/machines/<id>/runtime).
    const upstreamUrl = runtimeUrl(to.runtime, to.pathAndQuery);
    upstreamUrl.protocol = upstreamUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    const { socketPath, tls } = to.runtime;
    const upstream = new WebSocket(upstreamUrl, {
      // Through the runtime's Unix socket when it has one (ws takes no socketPath option).
      ...(socketPath ? { createConnection: () => net.createConnection(socketPath) } : {}),
      // Through its node: mutual TLS (ws hands these to tls.connect).
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}),
      headers: { authorization: `Bearer ${to.connectToken}` },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: UPSTREAM_HANDSHAKE_TIMEOUT_MS,
    });
    connecting.add(upstream);
    // Whatever the runtime sends before the client's side is ready (its hello) waits here.
    const pending: Array<[Buffer, boolean]> = [];
    const early = (data: Buffer, isBinary: boolean): void => void pending.push([data, isBinary]);
    upstream.on('message', early);
    const clientGone = (): void => upstream.terminate();
    socket.once('close', clientGone);
    let paired = false;
    /** An HTTP answer is on its way to the client: let it flush rather than cut the socket. */
    let answered = false;

    upstream.on('unexpected-response', (_request, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_REFUSAL_BODY_BYTES) chunks.push(chunk.subarray(0, MAX_REFUSAL_BODY_BYTES - size));
        size += chunk.length;
      });
      res.on('end', () => {
        answered = true;
        refuse(socket, res.statusCode ?? 502, Buffer.concat(chunks).toString('utf8'), res.headers['content-type'] ?? 'text/plain');
        upstream.terminate();
      });
      res.on('error', () => upstream.terminate());
    });
    upstream.on('error', (err) => {
      // After open the pair handles errors; after our own terminate() there is nothing to say.
      if (paired || answered || socket.destroyed || upstream.readyState === WebSocket.OPEN) return;
      log.warn({ err }, 'relay: the session runtime refused or did not answer the upgrade');
      const timedOut = /timed out|timeout/i.test(err.message);
      answered = true;
      refuseJson(socket, timedOut ? 504 : 502, timedOut ? 'runtime_timeout' : 'runtime_unreachable', 'the session runtime did not answer');
    });
    upstream.on('close', () => {
      connecting.delete(upstream);
      if (paired) return;
      if (!answered) socket.destroy();
      settle(null);
    });

    upstream.once('open', () => {
      connecting.delete(upstream);
      socket.off('close', clientGone);
      if (socket.destroyed || closing) return void upstream.terminate();
      to.server.handleUpgrade(req, socket, head, (downstream) => {
        paired = true;
        upstream.off('message', early);
        const pair = pairSockets(downstream, upstream, to.pairOptions, pending);
        pairs.add(pair);
        log.debug('relay: connected');
        void pair.ended.then(() => {
          pairs.delete(pair);
          log.debug('relay: closed');
        });
        settle(pair);
      });
      // ws completes a valid upgrade synchronously; no callback means it refused the client.
      if (!paired) upstream.terminate();
    });
  }

  return {
    onUpgrade,
    async close() {
      closing = true;
      browsers.stop();
      for (const ws of connecting) ws.terminate();
      for (const pair of pairs) pair.close();
      await Promise.race([Promise.allSettled([...pairs].map((p) => p.ended)), new Promise((r) => setTimeout(r, 6000).unref())]);
      wss.close();
      browsers.close();
    },
  };
}
