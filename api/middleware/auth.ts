import type { MiddlewareHandler } from 'hono';
import { userForAccessToken } from '../auth/tokens.js';
import { sha256Hex } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { HttpError, unauthorized } from '../errors.js';
import { CSRF_HEADER, csrfMatches, shareFromToken, webSignIn } from '../auth/web.js';
import { iso } from '../state/db.js';
import { sessionById } from '../state/sessions.js';
import { liveToken } from '../state/tokens.js';

export function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1] ?? null;
}

/** Users: a live access token, or a signed-in browser's cookie with its CSRF header → `userId`
 * (and `via`). A cookie without the header is refused: that is what a cross-site form sends. */
export function requireUser(deps: Pick<Deps, 'db' | 'now'>): MiddlewareHandler<AppEnv> {
  return async function requireUserMiddleware(c, next) {
    const header = c.req.header('authorization');
    if (header !== undefined) {
      const token = bearer(header);
      const userId = token ? await userForAccessToken(deps, token) : null;
      if (!userId) throw unauthorized();
      c.set('userId', userId);
      c.set('via', 'token');
      return next();
    }
    const signIn = await webSignIn(deps, c.req.header('cookie'));
    if (!signIn) throw unauthorized();
    if (!csrfMatches(signIn, c.req.header(CSRF_HEADER))) throw new HttpError(403, 'csrf', `missing or wrong ${CSRF_HEADER} header (reload the page)`);
    c.set('userId', signIn.userId);
    c.set('via', 'browser');
    await next();
  };
}

/** The browser's cookie alone → `userId` (only `webMe`, which hands the page its CSRF token). */
export function requireWeb(deps: Pick<Deps, 'db' | 'now'>): MiddlewareHandler<AppEnv> {
  return async function requireWebMiddleware(c, next) {
    const signIn = await webSignIn(deps, c.req.header('cookie'));
    if (!signIn) throw unauthorized('not signed in');
    c.set('userId', signIn.userId);
    c.set('via', 'browser');
    await next();
  };
}

/** A share link's token as the bearer token → `sessionId` of its session (read-only routes). */
export function requireShare(deps: Pick<Deps, 'db' | 'now'>): MiddlewareHandler<AppEnv> {
  return async function requireShareMiddleware(c, next) {
    const shared = await shareFromToken(deps, bearer(c.req.header('authorization')));
    if (!shared) throw unauthorized('this share link is not valid (expired, revoked, or mistyped)');
    c.set('sessionId', shared.session.id);
    c.set('shareId', shared.link.id);
    c.set('shareExpiresAt', shared.link.expires_at);
    await next();
  };
}

/** Session machines: a live machine token whose session is still provisioning or running →
 * `sessionId`. A stopped session's machine is refused even before its token is revoked. */
export function requireMachine(deps: Pick<Deps, 'db' | 'now'>): MiddlewareHandler<AppEnv> {
  return async function requireMachineMiddleware(c, next) {
    const token = bearer(c.req.header('authorization'));
    const row = token ? await liveToken(deps.db, sha256Hex(token), 'machine', iso(deps.now())) : undefined;
    const session = row?.session_id ? await sessionById(deps.db, row.session_id) : undefined;
    if (!session || (session.status !== 'running' && session.status !== 'provisioning')) throw unauthorized('machine token is not valid for a running session');
    c.set('sessionId', session.id);
    c.set('userId', session.owner_id);
    await next();
  };
}
