/**
 * The browser's credentials (issue 24), in one place for the routes, the page server and the
 * WebSocket relay:
 * - the web session: an HttpOnly cookie (WEB_COOKIE) holding a random token whose hash is a
 *   `web_sessions` row, issued by the /device page's sign-in or a one-time link (`catty open`);
 * - its CSRF token, stored with the row, which every cookie-authenticated request but `webMe`
 *   carries in CSRF_HEADER (a cross-site page can send the cookie but not read or set that);
 * - the Origin a cookie-authenticated WebSocket must come from (the API's own public origin);
 * - the one-time sign-in links `catty open` mints with the CLI's token (`web_links`);
 * - share links: a bearer token whose hash is a live `share_links` row.
 */
import { randomBytes } from 'node:crypto';
import { CSRF_HEADER, SIGNIN_LINK_PATH, WEB_COOKIE } from '../contract/routes.js';
import type { ShareLink, WebLink } from '../contract/schemas.js';
import { constantTimeEqual, newId, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { insertShareLink, liveShareLink, type ShareLinkRow } from '../state/share-links.js';
import type { SessionRow } from '../state/schema.js';
import { insertWebLink, takeWebLink } from '../state/web-links.js';
import { deleteWebSession, insertWebSession, liveWebSession } from '../state/web-sessions.js';

/** Browser sign-ins last this long. */
export const WEB_SESSION_TTL_MS = 12 * 3600 * 1000;
/** A one-time sign-in link (`catty open`) must be followed within this long: time to open it on
 * another device with --print-url, little for a link left in a scrollback. */
export const WEB_LINK_TTL_MS = 5 * 60 * 1000;
/** The page a one-time link leads to unless it names one. */
export const DEFAULT_NEXT = '/app/';

export interface WebSignIn {
  userId: string;
  csrf: string;
  /** The web session's key (the sha256 of the cookie's value that matched). */
  hash: string;
}

/** The value of one cookie in a Cookie header (the first with that name), or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Every value of one cookie in a Cookie header, in order (at most `max`). */
function cookieValues(header: string | undefined, name: string, max: number): string[] {
  const values: string[] = [];
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq >= 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
    if (values.length === max) break;
  }
  return values;
}

/**
 * The live web session a Cookie header carries, or null. A browser may hold two cookies of this
 * name — one an earlier version scoped to /device, sent first there — so each is tried (two at
 * most) and the first live one counts.
 */
export async function webSignIn(deps: Pick<Deps, 'db' | 'now'>, cookieHeader: string | undefined): Promise<WebSignIn | null> {
  for (const token of cookieValues(cookieHeader, WEB_COOKIE, 2)) {
    if (!token || token.length > 200) continue;
    const row = await liveWebSession(deps.db, sha256Hex(token), iso(deps.now()));
    if (row) return { userId: row.user_id, csrf: row.csrf, hash: row.hash };
  }
  return null;
}

/** Whether the request's CSRF header matches the sign-in's token. */
export function csrfMatches(signIn: WebSignIn, header: string | undefined): boolean {
  return typeof header === 'string' && header.length > 0 && constantTimeEqual(header, signIn.csrf);
}

export { CSRF_HEADER };

/** Starts a web session for a user: the cookie's value (only its hash is stored). */
export async function startWebSession(deps: Pick<Deps, 'db' | 'now'>, userId: string): Promise<{ token: string; maxAgeSec: number }> {
  const token = randomBytes(32).toString('base64url');
  const now = deps.now();
  await insertWebSession(deps.db, { hash: sha256Hex(token), user_id: userId, csrf: randomBytes(18).toString('base64url'), expires_at: iso(now + WEB_SESSION_TTL_MS), created_at: iso(now) });
  return { token, maxAgeSec: WEB_SESSION_TTL_MS / 1000 };
}

/** The Set-Cookie attributes of the web session's cookie: HttpOnly, SameSite=Lax (the one-time
 * link and links from elsewhere are top-level navigations), Secure on https, the whole origin. */
export function webCookieOptions(deps: Pick<Deps, 'publicUrl'>): { httpOnly: true; sameSite: 'Lax'; path: '/'; secure: boolean } {
  return { httpOnly: true, sameSite: 'Lax', path: '/', secure: deps.publicUrl().startsWith('https:') };
}

/** The API's own origin (scheme://host[:port] of its public URL). */
export function apiOrigin(deps: Pick<Deps, 'publicUrl'>): string {
  return new URL(deps.publicUrl()).origin;
}

/** A cookie-authenticated WebSocket must come from a page of the API's own origin. */
export function originAllowed(deps: Pick<Deps, 'publicUrl'>, origin: string | undefined): boolean {
  return typeof origin === 'string' && origin === apiOrigin(deps);
}

/** The live share link a token names, and its (not deleted) session; null otherwise. */
export async function shareFromToken(deps: Pick<Deps, 'db' | 'now'>, token: string | null): Promise<{ link: ShareLinkRow; session: SessionRow } | null> {
  if (!token || token.length > 200) return null;
  return (await liveShareLink(deps.db, sha256Hex(token), iso(deps.now()))) ?? null;
}

/** Ends the web sessions a Cookie header carries (logout); false when it carried none. */
export async function endWebSession(deps: Pick<Deps, 'db'>, cookieHeader: string | undefined): Promise<boolean> {
  let ended = false;
  for (const token of cookieValues(cookieHeader, WEB_COOKIE, 2)) {
    if (token && token.length <= 200 && (await deleteWebSession(deps.db, sha256Hex(token)))) ended = true;
  }
  return ended;
}

/** A one-time sign-in link for the user (`catty open`): single use, WEB_LINK_TTL_MS. */
export async function mintWebLink(deps: Pick<Deps, 'db' | 'now' | 'publicUrl'>, userId: string, next: string = DEFAULT_NEXT): Promise<WebLink> {
  const code = randomBytes(32).toString('base64url');
  const now = deps.now();
  const expiresAt = iso(now + WEB_LINK_TTL_MS);
  await insertWebLink(deps.db, { hash: sha256Hex(code), user_id: userId, next, expires_at: expiresAt, created_at: iso(now) });
  return { url: `${deps.publicUrl()}${SIGNIN_LINK_PATH}?code=${code}`, expiresAt };
}

/** Takes a one-time link's code: its user and where to go, or null (unknown, used, expired). */
export async function takeWebLinkCode(deps: Pick<Deps, 'db' | 'now'>, code: string | undefined): Promise<{ userId: string; next: string } | null> {
  if (!code || code.length > 200) return null;
  const row = await takeWebLink(deps.db, sha256Hex(code), iso(deps.now()));
  return row ? { userId: row.user_id, next: row.next } : null;
}

/** A read-only share link of a session, live for `ttlSec`; the token stays in the URL's fragment. */
export async function mintShareLink(deps: Pick<Deps, 'db' | 'now' | 'publicUrl'>, sessionId: string, userId: string, ttlSec: number): Promise<ShareLink> {
  const token = randomBytes(32).toString('base64url');
  const now = deps.now();
  const id = newId();
  const expiresAt = iso(now + ttlSec * 1000);
  await insertShareLink(deps.db, { id, hash: sha256Hex(token), session_id: sessionId, created_by: userId, expires_at: expiresAt, created_at: iso(now) });
  return { id, url: `${deps.publicUrl()}/app/share#${token}`, expiresAt };
}
