/**
 * The browsers' terminals (issue 24): `WS WEB_CONNECT_PATH` (the owner's browser: cookie and
 * Origin) and `WS SHARE_CONNECT_PATH` (a share link's token as subprotocol), relayed to the
 * runtime's `/connect` like the CLI's but
 * - authorized by the browser's grant (browser-auth.ts), never by a connect token, and capped
 *   per grant (grants.ts: 429 past MAX_SOCKETS_PER_GRANT);
 * - with a query the API writes: `offset`, `cols`, `rows` checked as integers, then
 *   `client=browser` and, for a share link, `readonly=1` — the browser's own query never
 *   reaches the runtime, so it cannot name itself a `cli` or drop `readonly`;
 * - with its frames filtered (browser-frames.ts) on the way to the runtime;
 * - closed with CloseCode.accessEnded once its grant ends while open (grants.ts).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { SHARE_SUBPROTOCOL } from '../contract/routes.js';
import type { Deps } from '../deps.js';
import { CloseCode, MAX_FRAME_BYTES } from '../../session-runtime/wire/protocol.js';
import { authorizeBrowser } from './browser-auth.js';
import { ownerBrowserFrame, shareBrowserFrame } from './browser-frames.js';
import { GrantWatch, type GrantOptions } from './grants.js';
import { matchBrowserPath, type BrowserTarget } from './paths.js';
import { refuseJson } from './refusals.js';
import type { RelayToRuntime } from './relay-to.js';
import type { PairOptions } from './ws-relay.js';

export type BrowserRelayOptions = GrantOptions;

/** Largest `offset` taken (a safe integer's digits); `cols`/`rows` as the runtime's `dimension`. */
const OFFSET = /^\d{1,15}$/;
const DIMENSION = /^\d{1,4}$/;

/** The runtime's query for a browser, from the browser's: null when a given value is not valid. */
export function upstreamQuery(search: URLSearchParams, kind: BrowserTarget['kind']): string | null {
  const out = new URLSearchParams();
  const offset = search.get('offset');
  if (offset !== null) {
    if (!OFFSET.test(offset)) return null;
    out.set('offset', String(Number(offset)));
  }
  for (const name of ['cols', 'rows'] as const) {
    const value = search.get(name);
    if (value === null) continue;
    if (!DIMENSION.test(value) || Number(value) < 1 || Number(value) > 1000) return null;
    out.set(name, String(Number(value)));
  }
  out.set('client', 'browser');
  if (kind === 'share') out.set('readonly', '1');
  return `?${out}`;
}

export interface BrowserRelay {
  onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL, target: BrowserTarget): void;
  /** No more grant checks (API shutdown, before the pairs are closed). */
  stop(): void;
  close(): void;
}

export function createBrowserRelay(
  deps: Pick<Deps, 'db' | 'key' | 'logger' | 'now' | 'publicUrl'> & Partial<Pick<Deps, 'provisioner'>>,
  relayToRuntime: RelayToRuntime,
  pairOptions: PairOptions,
  options: BrowserRelayOptions = {},
): BrowserRelay {
  // A share link's upgrade is answered with the subprotocol `catty-share` (the page offers it
  // beside `catty-share.<token>`: a browser fails a connection answered with a protocol it did not
  // offer); the owner's with none.
  const server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => (matchBrowserPath(new URL(req.url ?? '/', 'http://api').pathname)?.kind === 'share' ? SHARE_SUBPROTOCOL : false),
  });
  const grants = new GrantWatch(deps, options);
  const frames = { owner: { ...pairOptions, acceptFromClient: ownerBrowserFrame }, share: { ...pairOptions, acceptFromClient: shareBrowserFrame } };

  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL, target: BrowserTarget): void {
    const query = upstreamQuery(url.searchParams, target.kind);
    if (query === null) return refuseJson(socket, 400, 'invalid_request', 'offset, cols and rows are integers (cols and rows 1 to 1000)');
    authorizeBrowser(deps, target, req.headers).then(
      (auth) => {
        if (!auth.ok) return refuseJson(socket, auth.status, auth.code, auth.message);
        const slot = grants.reserve(auth.grant);
        if (!slot) return refuseJson(socket, 429, 'too_many_connections', `this ${auth.grant.kind === 'share' ? 'share link' : 'sign-in'} has too many terminals open: close one`);
        relayToRuntime(req, socket, head, {
          sessionId: auth.sessionId,
          runtime: auth.runtime,
          connectToken: auth.connectToken,
          pathAndQuery: `/connect${query}`,
          server,
          pairOptions: frames[target.kind],
          onDone: (pair) => {
            if (!pair) return slot.release();
            slot.attach((reason) => pair.close(CloseCode.accessEnded, reason));
            void pair.ended.then(() => slot.release());
          },
        });
      },
      (err: unknown) => {
        deps.logger.error({ err }, 'browser relay authorization failed');
        refuseJson(socket, 500, 'internal', 'internal error');
      },
    );
  }

  return {
    onUpgrade,
    stop: () => grants.stop(),
    close: () => server.close(),
  };
}
