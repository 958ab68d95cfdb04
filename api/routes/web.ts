/**
 * The browser's sign-in (issue 24): `catty open` mints a one-time link with the CLI's token
 * (`webLink`), the browser follows it (`GET /app/signin?code=`) and gets the web session's
 * HttpOnly cookie; the page asks who it is and for its CSRF token (`webMe`, the cookie alone)
 * and signs out (`webLogout`). The cookie and its CSRF header are checked by requireUser
 * (api/middleware/auth.ts); the credentials themselves live in api/auth/web.ts.
 */
import { Hono, type Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { routes, SIGNIN_LINK_PATH, WEB_COOKIE } from '../contract/routes.js';
import type { AppEnv, Deps } from '../deps.js';
import { HttpError, unauthorized } from '../errors.js';
import { jsonBody } from '../middleware/json-body.js';
import { DEFAULT_NEXT, endWebSession, mintWebLink, startWebSession, takeWebLinkCode, webCookieOptions, webSignIn } from '../auth/web.js';
import { userById } from '../state/users.js';
import { message, page } from './device-html.js';
import { registrar, reply } from './register.js';

/** The strict headers of the server's own HTML pages (as the /device page's). */
export function strictPageHeaders(c: Context): void {
  c.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
  c.header('X-Frame-Options', 'DENY');
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('Cache-Control', 'no-store');
}

export function webRoutes(app: Hono<AppEnv>, deps: Deps): void {
  const on = registrar(app, deps);

  // The CLI's token only: a browser must not mint links that sign other browsers in.
  on(routes.webLink, async (c) => {
    if (c.get('via') !== 'token') throw new HttpError(403, 'forbidden', 'sign-in links are minted by the catty CLI (catty open), not by a browser');
    const body = await jsonBody(c, routes.webLink.request);
    c.header('Cache-Control', 'no-store');
    return reply(c, routes.webLink, await mintWebLink(deps, c.get('userId'), body.next ?? DEFAULT_NEXT));
  });

  on(routes.webMe, async (c) => {
    const signIn = await webSignIn(deps, c.req.header('cookie'));
    const user = signIn ? await userById(deps.db, signIn.userId) : undefined;
    if (!signIn || !user) throw unauthorized('not signed in');
    c.header('Cache-Control', 'no-store');
    return reply(c, routes.webMe, { email: user.email, csrf: signIn.csrf });
  });

  on(routes.webLogout, async (c) => {
    await endWebSession(deps, c.req.header('cookie'));
    deleteCookie(c, WEB_COOKIE, webCookieOptions(deps));
    return reply(c, routes.webLogout, { ok: true });
  });
}

/** `GET /app/signin?code=`: a one-time link taken, the cookie set, on to its page. Mounted before
 * the page's own routes under /app. */
export function signInLinkRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(SIGNIN_LINK_PATH, async (c) => {
    strictPageHeaders(c);
    const taken = await takeWebLinkCode(deps, c.req.query('code'));
    const user = taken ? await userById(deps.db, taken.userId) : undefined;
    if (!taken || !user) return c.html(page('Sign-in link expired', message('This link was used or expired; run catty open again.')), 410);
    const { token, maxAgeSec } = await startWebSession(deps, user.id);
    setCookie(c, WEB_COOKIE, token, { ...webCookieOptions(deps), maxAge: maxAgeSec });
    // `next` was checked against APP_PATH_PATTERN when the link was minted: a path of this origin.
    return c.redirect(taken.next, 303);
  });
  return app;
}
