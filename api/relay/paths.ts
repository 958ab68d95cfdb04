/**
 * Where the relay lives in the API's URL space, and the `connectUrl` the API hands out.
 *
 * In a deployment the laptop reaches only the API, so the runtime's routes are mirrored under
 * `/v1/sessions/<id>/runtime`: the CLI appends `/upload` and `/connect` to `connectUrl` as it
 * does for a runtime's own URL, and never knows the difference.
 */
import type { Config } from '../config.js';
import { fillPath, RELAY_PREFIX } from '../contract/routes.js';

export type RelayOp = 'upload' | 'logs' | 'connect';

export interface RelayTarget {
  sessionId: string;
  op: RelayOp;
}

/** Session ids are `newId()`: 24 hex chars. Anything else is not a relay path. */
const RELAY_PATH = new RegExp(`^${RELAY_PREFIX.replace(':id', '([0-9a-f]{1,64})')}/(upload|logs|connect)$`);

/** Matches `<RELAY_PREFIX>/<op>`; null for every other path. */
export function matchRelayPath(pathname: string): RelayTarget | null {
  const match = RELAY_PATH.exec(pathname);
  if (!match) return null;
  return { sessionId: match[1]!, op: match[2] as RelayOp };
}

/** The base URL a client uses for a session's runtime: the API's relay when a public URL is
 * configured (a deployment), else the runtime's own URL (the embedded local mode, where the
 * runtime listens on the laptop's loopback and a relay would only add a hop). */
export function clientConnectUrl(config: Pick<Config, 'publicUrl'>, sessionId: string, runtimeUrl: string): string {
  return config.publicUrl ? `${config.publicUrl}${fillPath(RELAY_PREFIX, { id: sessionId })}` : runtimeUrl;
}
