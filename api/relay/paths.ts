/**
 * Where the relay lives in the API's URL space, and the `connectUrl` the API hands out.
 *
 * In a deployment the laptop reaches only the API, so the runtime's routes are mirrored under
 * `/v1/sessions/<id>/runtime`: the CLI appends `/upload`, `/logs`, `/git-bundle` and `/connect` to
 * `connectUrl` as it does for a runtime's own URL, and never knows the difference.
 */
import type { Config } from '../config.js';
import { fillPath, RELAY_PREFIX, SHARE_CONNECT_PATH, WEB_CONNECT_PATH } from '../contract/routes.js';
import type { ConnectInfo } from '../contract/schemas.js';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';

export type RelayOp = 'upload' | 'logs' | 'git-bundle' | 'connect';

export interface RelayTarget {
  sessionId: string;
  op: RelayOp;
}

/** Session ids are `newId()`: 24 hex chars. Anything else is not a relay path. */
const RELAY_PATH = new RegExp(`^${RELAY_PREFIX.replace(':id', '([0-9a-f]{1,64})')}/(upload|logs|git-bundle|connect)$`);

/** Matches `<RELAY_PREFIX>/<op>`; null for every other path. */
export function matchRelayPath(pathname: string): RelayTarget | null {
  const match = RELAY_PATH.exec(pathname);
  if (!match) return null;
  return { sessionId: match[1]!, op: match[2] as RelayOp };
}

/** A browser's terminal (issue 24): the owner's (`ref` = a session id or label, as the browser
 * wrote it) or a share link's (the session is the link's). */
export type BrowserTarget = { kind: 'owner'; ref: string } | { kind: 'share' };

const WEB_CONNECT = new RegExp(`^${WEB_CONNECT_PATH.replace(':ref', '([^/]{1,200})')}$`);

/** Matches WEB_CONNECT_PATH and SHARE_CONNECT_PATH; null for every other path (and for a `ref`
 * that does not decode). */
export function matchBrowserPath(pathname: string): BrowserTarget | null {
  if (pathname === SHARE_CONNECT_PATH) return { kind: 'share' };
  const match = WEB_CONNECT.exec(pathname);
  if (!match) return null;
  try {
    return { kind: 'owner', ref: decodeURIComponent(match[1]!) };
  } catch {
    return null;
  }
}

/** Where a client reaches a session's runtime: the API's relay when a public URL is configured
 * (a deployment), else the runtime itself — its socket on this host (the embedded local mode,
 * where the CLI runs beside the API and a relay would only add a hop), or its URL. A runtime
 * behind a cluster node (mutual TLS, the API's certificate) is never handed out: only the API
 * can reach it, so the client always goes through the relay. */
export function clientConnectInfo(config: Pick<Config, 'publicUrl'>, sessionId: string, runtime: RuntimeEndpoint): Pick<ConnectInfo, 'connectUrl' | 'socketPath'> {
  if (config.publicUrl) return { connectUrl: `${config.publicUrl}${fillPath(RELAY_PREFIX, { id: sessionId })}` };
  if (runtime.tls) throw new Error('a session on a cluster node is reached only through the API\'s relay: set CATTY_PUBLIC_URL');
  return runtime.socketPath ? { connectUrl: runtime.url, socketPath: runtime.socketPath } : { connectUrl: runtime.url };
}
