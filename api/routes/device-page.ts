/**
 * The browser page at the verification URI: sign in (email + password → an HttpOnly,
 * SameSite=Strict session cookie), then approve or deny a user code. Every form carries a CSRF
 * token: before sign-in a double-submit cookie, after it the token stored with the web session.
 */
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { decideDeviceCode, normalizeUserCode, type DecideResult } from '../auth/device.js';
import { NO_ACCOUNT_HASH, verifyPassword } from '../auth/passwords.js';
import { LoginThrottle } from '../auth/throttle.js';
import { constantTimeEqual, sha256Hex } from '../crypto.js';
import type { AppEnv, Deps } from '../deps.js';
import { clientAddress, parseTrustedProxies } from '../middleware/client-address.js';
import { iso } from '../state/db.js';
import { userByEmail, userById } from '../state/users.js';
import { insertWebSession, liveWebSession } from '../state/web-sessions.js';
import { page, signInForm, approveForm, message } from './device-html.js';

const SESSION_COOKIE = 'catty_web';
const LOGIN_CSRF_COOKIE = 'catty_csrf';
/** Browser sign-ins last this long. */
const WEB_SESSION_TTL_MS = 12 * 3600 * 1000;

const cookieOptions = (secure: boolean) => ({ httpOnly: true, sameSite: 'Strict' as const, path: '/device', secure });

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
    const cookie = getCookie(c, SESSION_COOKIE);
    const row = cookie ? await liveWebSession(deps.db, sha256Hex(cookie), iso(deps.now())) : undefined;
    const user = row ? await userById(deps.db, row.user_id) : undefined;
    return row && user ? { user, csrf: row.csrf } : null;
  };

  const loginCsrf = (c: Context<AppEnv>): string => {
    const existing = getCookie(c, LOGIN_CSRF_COOKIE);
    if (existing && /^[A-Za-z0-9_-]{20,}$/.test(existing)) return existing;
    const token = randomBytes(18).toString('base64url');
    setCookie(c, LOGIN_CSRF_COOKIE, token, cookieOptions(secure()));
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
    const token = randomBytes(32).toString('base64url');
    const now = deps.now();
    await insertWebSession(deps.db, { hash: sha256Hex(token), user_id: user.id, csrf: randomBytes(18).toString('base64url'), expires_at: iso(now + WEB_SESSION_TTL_MS), created_at: iso(now) });
    setCookie(c, SESSION_COOKIE, token, { ...cookieOptions(secure()), maxAge: WEB_SESSION_TTL_MS / 1000 });
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
