/**
 * The browser's credentials (issue 24), in one place for the routes, the page server and the
 * WebSocket relay:
 * - the web session: an HttpOnly cookie (WEB_COOKIE) holding a random token whose hash is a
 *   `web_sessions` row, issued by the /device page's sign-in or a one-time link (`catty open`);
 * - its CSRF token, stored with the row, which every cookie-authenticated request but `webMe`
 *   carries in CSRF_HEADER (a cross-site page can send the cookie but not read or set that);
 * - the Origin a cookie-authenticated WebSocket must come from (the API's own public origin);
 * - share links: a bearer token whose hash is a live `share_links` row.
 */
import { randomBytes } from 'node:crypto';
import { CSRF_HEADER, WEB_COOKIE } from '../contract/routes.js';
import { constantTimeEqual, sha256Hex } from '../crypto.js';
import type { Deps } from '../deps.js';
import { iso } from '../state/db.js';
import { liveShareLink, type ShareLinkRow } from '../state/share-links.js';
import type { SessionRow } from '../state/schema.js';
import { insertWebSession, liveWebSession } from '../state/web-sessions.js';

/** Browser sign-ins last this long. */
export const WEB_SESSION_TTL_MS = 12 * 3600 * 1000;

export interface WebSignIn {
  userId: string;
  csrf: string;
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

/** The live web session a Cookie header carries, or null. */
export async function webSignIn(deps: Pick<Deps, 'db' | 'now'>, cookieHeader: string | undefined): Promise<WebSignIn | null> {
  const token = cookieValue(cookieHeader, WEB_COOKIE);
  if (!token || token.length > 200) return null;
  const row = await liveWebSession(deps.db, sha256Hex(token), iso(deps.now()));
  return row ? { userId: row.user_id, csrf: row.csrf } : null;
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
