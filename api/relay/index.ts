/**
 * The relay: one endpoint for the laptop. In a deployment the session runtimes are not
 * reachable from laptops, so the API mirrors their `upload`, `logs` and `connect` under
 * `/v1/sessions/<id>/runtime/` (paths.ts), authorizes with the session's connect token
 * (authorize.ts) and streams both ways (http-relay.ts, upgrade.ts + ws-relay.ts). Browsers'
 * terminals (issue 24) come through it too, watch-only unless the owner's (browser.ts).
 *
 * It sits in front of the Hono app at the node:http level on purpose: the upload body must
 * stream straight through (Hono's body limit and Request conversion would buffer or cap it),
 * and upgrades never reach Hono.
 */
import type http from 'node:http';
import type { Deps } from '../deps.js';
import { authorizeRelay } from './authorize.js';
import { relayHttp, sendJsonError } from './http-relay.js';
import type { BrowserRelayOptions } from './browser.js';
import { matchBrowserPath, matchRelayPath } from './paths.js';
import { createUpgradeRelay, type UpgradeRelay } from './upgrade.js';
import type { PairOptions } from './ws-relay.js';

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Relay {
  /** Wraps the app's request listener: relay paths are served here, the rest by `next`. */
  requestListener(next: Listener): Listener;
  onUpgrade: UpgradeRelay['onUpgrade'];
  /** Ends every relayed WebSocket (1001: clients reconnect to the restarted API). */
  close(): Promise<void>;
}

const METHOD_OF = { upload: 'POST', logs: 'GET', 'git-bundle': 'GET' } as const;

export function createRelay(
  deps: Pick<Deps, 'db' | 'key' | 'logger' | 'now' | 'publicUrl'> & Partial<Pick<Deps, 'provisioner'>>,
  pairOptions: PairOptions = {},
  browserOptions: BrowserRelayOptions = {},
): Relay {
  const upgrades = createUpgradeRelay(deps, pairOptions, browserOptions);
  return {
    requestListener(next) {
      return function relayOrApp(req, res) {
        const url = new URL(req.url ?? '/', 'http://api');
        const target = matchRelayPath(url.pathname);
        if (!target) {
          if (matchBrowserPath(url.pathname)) return sendJsonError(res, 426, 'upgrade_required', 'a terminal is a WebSocket');
          return next(req, res);
        }
        if (target.op === 'connect') return sendJsonError(res, 426, 'upgrade_required', 'connect is a WebSocket');
        if (req.method !== METHOD_OF[target.op]) {
          res.setHeader('allow', METHOD_OF[target.op]);
          return sendJsonError(res, 405, 'method_not_allowed', `${target.op} takes ${METHOD_OF[target.op]}`);
        }
        void authorizeRelay(deps, target.sessionId, req.headers.authorization).then(
          (auth) => {
            if (!auth.ok) {
              // Refused before reading the body: do not reuse a connection with a body still on it.
              res.setHeader('connection', 'close');
              sendJsonError(res, auth.status, auth.code, auth.message);
              return void req.resume();
            }
            relayHttp(req, res, { runtime: auth.runtime, connectToken: auth.connectToken, pathAndQuery: `/${target.op}${url.search}` }, deps.logger.child({ sessionId: target.sessionId }));
          },
          (err: unknown) => {
            deps.logger.error({ err }, 'relay authorization failed');
            res.setHeader('connection', 'close');
            sendJsonError(res, 500, 'internal', 'internal error');
            req.resume();
          },
        );
      };
    },
    onUpgrade: (req, socket, head) => upgrades.onUpgrade(req, socket, head),
    close: () => upgrades.close(),
  };
}
