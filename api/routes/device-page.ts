/**
 * The browser page at the verification URI: sign in (email + password → the browser's web
 * session, api/auth/web.ts: an HttpOnly, SameSite=Lax cookie for the whole origin, so signing in
 * here also signs in the browser view at /app/), then approve or deny a user code. Every form
 * carries a CSRF token: before sign-in a double-submit cookie (SameSite=Strict, this page's path
 * only), after it the token stored with the web session.
 */
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { WEB_COOKIE } from '../contract/routes.js';
import { startWebSession, webCookieOptions, webSignIn } from '../auth/web.js';
import { decideDeviceCode, normalizeUserCode, type DecideResult } from '../auth/device.js';
import { NO_ACCOUNT_HASH, verifyPassword } from '../auth/passwords.js';
import { LoginThrottle } from '../auth/throttle.js';
import { constantTimeEqual } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { clientAddress, parseTrustedProxies } from '../middleware/client-address.js';
import { userByEmail, userById } from '../state/users.js';
import { page, signInForm, approveForm, message } from './device-html.js';

const LOGIN_CSRF_COOKIE = 'catty_csrf';

/** The login form's double-submit cookie: this page's alone. */
const loginCsrfCookieOptions = (secure: boolean) => ({ httpOnly: true, sameSite: 'Strict' as const, path: '/device', secure });

export function devicePageRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const throttle = new LoginThrottle(deps.db);
  // Behind the TLS front every socket is the front's: its X-Forwarded-For names the client.
  const trustedProxies = parseTrustedProxies(deps.config.trustedProxies);
  const secure = () => deps.publicUrl().startsWith('https:');

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
  });

  const webUser = async (c: Context<AppEnv>) => {
    const signIn = await webSignIn(deps, c.req.header('cookie'));
    const user = signIn ? await userById(deps.db, signIn.userId) : undefined;
    return signIn && user ? { user, csrf: signIn.csrf } : null;
  };

  const loginCsrf = (c: Context<AppEnv>): string => {
    const existing = getCookie(c, LOGIN_CSRF_COOKIE);
    if (existing && /^[A-Za-z0-9_-]{20,}$/.test(existing)) return existing;
    const token = randomBytes(18).toString('base64url');
    setCookie(c, LOGIN_CSRF_COOKIE, token, loginCsrfCookieOptions(secure()));
    return token;
  };

  app.get('/', async (c) => {
    const code = (c.req.query('code') ?? '').slice(0, 20);
    const signedIn = await webUser(c);
    if (!signedIn) return c.html(page('Sign in to catty', signInForm({ code, csrf: loginCsrf(c) })));
    return c.html(page('Approve a device', approveForm({ code, csrf: signedIn.csrf, email: signedIn.user.email })));
  });

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const field = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '');
    const code = field('code').slice(0, 20);
    const cookieCsrf = getCookie(c, LOGIN_CSRF_COOKIE) ?? '';
    if (!cookieCsrf || !constantTimeEqual(cookieCsrf, field('csrf'))) {
      return c.html(page('Sign in to catty', signInForm({ code, csrf: loginCsrf(c), error: 'Your sign-in form expired. Please try again.' })), 403);
    }
    const email = field('email').trim().toLowerCase().slice(0, 320);
    const address = clientAddress(c, trustedProxies);
    // Taken before the password is checked (and counted as a failure unless it is right).
    const taken = await throttle.take(email, address, deps.now());
    if (!taken.ok) {
      const minutes = Math.max(1, Math.ceil(taken.retryAfterMs / 60_000));
      c.header('Retry-After', String(Math.ceil(taken.retryAfterMs / 1000)));
      return c.html(page('Sign in to catty', signInForm({ code, csrf: cookieCsrf, error: `Too many failed sign-ins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.` })), 429);
    }
    const user = await userByEmail(deps.db, email);
    // An unknown email costs a real verification too: the answer's timing does not tell.
    const passwordOk = await verifyPassword(field('password').slice(0, 1024), user?.password_hash ?? NO_ACCOUNT_HASH);
    if (!user || !passwordOk) {
      return c.html(page('Sign in to catty', signInForm({ code, csrf: cookieCsrf, error: 'Wrong email or password.' })), 401);
    }
    await throttle.succeeded(email, address);
    const { token, maxAgeSec } = await startWebSession(deps, user.id);
    setCookie(c, WEB_COOKIE, token, { ...webCookieOptions(deps), maxAge: maxAgeSec });
    return c.redirect(`/device?code=${encodeURIComponent(code)}`, 303);
  });

  app.post('/decide', async (c) => {
    const signedIn = await webUser(c);
    if (!signedIn) return c.redirect('/device', 303);
    const form = await c.req.parseBody();
    const code = typeof form.code === 'string' ? form.code.slice(0, 20) : '';
    const csrf = typeof form.csrf === 'string' ? form.csrf : '';
    if (!constantTimeEqual(csrf, signedIn.csrf)) return c.html(page('Request refused', message('This form expired. Reload the page and try again.')), 403);
    const action = form.action === 'approve' ? true : form.action === 'deny' ? false : null;
    if (action === null || !normalizeUserCode(code)) {
      return c.html(page('Approve a device', approveForm({ code, csrf: signedIn.csrf, email: signedIn.user.email, error: 'Enter the code shown in your terminal.' })), 400);
    }
    const result = await decideDeviceCode(deps, code, signedIn.user.id, action);
    return c.html(page(TITLES[result], message(MESSAGES[result])), result === 'approved' || result === 'denied' ? 200 : 400);
  });

  return app;
}

const TITLES: Record<DecideResult, string> = {
  approved: 'Device approved',
  denied: 'Request denied',
  unknown: 'Unknown code',
  expired: 'Code expired',
  already_used: 'Code already used',
};
const MESSAGES: Record<DecideResult, string> = {
  approved: 'Approved. You can return to your terminal.',
  denied: 'Denied. The device will not be signed in.',
  unknown: 'That code is not valid. Check the code in your terminal.',
  expired: 'That code has expired. Run catty login again.',
  already_used: 'That code was already used.',
};
