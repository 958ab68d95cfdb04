/**
 * Who may open a browser's terminal (issue 24), decided before anything is forwarded:
 * - the owner's browser (WEB_CONNECT_PATH): a live web session in the cookie (webSignIn), whose
 *   user owns the session named by `:ref` (an id or a label; anyone else's is a 404, like the
 *   API's own routes), on a WebSocket whose Origin is the API's own. A cookie travels with any
 *   page's WebSocket, so without the Origin check any site the user visits could drive their
 *   terminal (cross-site WebSocket hijacking);
 * - a share link (SHARE_CONNECT_PATH): its token in the offered subprotocol `catty-share.<token>`
 *   (shareFromToken). No cookie counts there: a share socket is a share socket, whoever opens it.
 * Either way the session must be running. What comes back names the grant (the hash of the
 * cookie's or the link's token), which grants.ts watches for as long as the socket is open.
 */
import type http from 'node:http';
import { SHARE_SUBPROTOCOL, WEB_COOKIE } from '../contract/routes.js';
import { sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { apiOrigin, cookieValue, originAllowed, shareFromToken, webSignIn } from '../auth/web.js';
import { databaseUnavailable, isDatabaseUnavailable } from '../state/db-errors.js';
import { ownedSession } from '../state/sessions.js';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { runningRuntime } from './authorize.js';
import type { BrowserTarget } from './paths.js';

/** What a browser's socket was opened with: ended, the socket is closed (grants.ts). */
export type BrowserGrant =
  /** A web session: the hash of its cookie's token (the `web_sessions` row's key). */
  | { kind: 'web'; hash: string }
  /** A share link: the hash of its token, and when it expires (ms since the epoch). */
  | { kind: 'share'; hash: string; expiresAt: number };

export type BrowserAuth =
  | { ok: true; sessionId: string; runtime: RuntimeEndpoint; connectToken: string; grant: BrowserGrant }
  | { ok: false; status: 401 | 403 | 404 | 409 | 503; code: string; message: string };

type AuthDeps = Pick<Deps, 'db' | 'key' | 'now' | 'publicUrl'> & Partial<Pick<Deps, 'provisioner'>>;

const SHARE_PREFIX = `${SHARE_SUBPROTOCOL}.`;

/** The token in the offered subprotocols (`Sec-WebSocket-Protocol: catty-share, catty-share.<t>`);
 * null when none is offered, or more than one (which would leave the grant ambiguous). */
export function shareTokenOf(protocolHeader: string | undefined): string | null {
  const tokens = (protocolHeader ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.startsWith(SHARE_PREFIX))
    .map((p) => p.slice(SHARE_PREFIX.length));
  return tokens.length === 1 && tokens[0]!.length > 0 ? tokens[0]! : null;
}

export async function authorizeBrowser(deps: AuthDeps, target: BrowserTarget, headers: http.IncomingHttpHeaders): Promise<BrowserAuth> {
  try {
    return target.kind === 'owner' ? await authorizeOwner(deps, target.ref, headers) : await authorizeShare(deps, headers['sec-websocket-protocol']);
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    const { status, code, message } = databaseUnavailable();
    return { ok: false, status: status as 503, code, message };
  }
}

async function authorizeOwner(deps: AuthDeps, ref: string, headers: http.IncomingHttpHeaders): Promise<BrowserAuth> {
  if (!originAllowed(deps, headers.origin)) {
    return { ok: false, status: 403, code: 'forbidden', message: `a signed-in browser's terminal opens only from a page of ${apiOrigin(deps)}` };
  }
  const signIn = await webSignIn(deps, headers.cookie);
  if (!signIn) return { ok: false, status: 401, code: 'unauthorized', message: 'not signed in: sign in again in the browser' };
  const row = await ownedSession(deps.db, signIn.userId, ref);
  if (!row) return { ok: false, status: 404, code: 'not_found', message: 'no such session' };
  const reached = runningRuntime(deps, row);
  if (!reached.ok) return reached;
  // webSignIn found the row by this same cookie, so its value is there and hashes to the key.
  const hash = sha256Hex(cookieValue(headers.cookie, WEB_COOKIE)!);
  return { ok: true, sessionId: row.id, runtime: reached.runtime, connectToken: reached.connectToken, grant: { kind: 'web', hash } };
}

async function authorizeShare(deps: AuthDeps, protocolHeader: string | undefined): Promise<BrowserAuth> {
  const token = shareTokenOf(protocolHeader);
  const shared = await shareFromToken(deps, token);
  if (!token || !shared) return { ok: false, status: 401, code: 'unauthorized', message: 'this share link is unknown, expired or revoked: ask for a new one' };
  const reached = runningRuntime(deps, shared.session);
  if (!reached.ok) return reached;
  return {
    ok: true,
    sessionId: shared.session.id,
    runtime: reached.runtime,
    connectToken: reached.connectToken,
    grant: { kind: 'share', hash: shared.link.hash, expiresAt: Date.parse(shared.link.expires_at) },
  };
}
