/**
 * The browser's credentials at their boundaries, with an injected clock (createApp over fake
 * dependencies): a one-time link works until the instant it expires and not after; a web session
 * ends after its 12 hours; a share link at its TTL; the cookie is Secure exactly when the public URL
 * is https. Against the built API with real sessions: ../integration/web-routes.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { WEB_LINK_TTL_MS, WEB_SESSION_TTL_MS } from '../../api/auth/web.js';
import { issueTokenPair } from '../../api/auth/tokens.js';
import { CSRF_HEADER, routes, WEB_COOKIE } from '../../api/contract/routes.js';
import { createUser, resetPassword } from '../../api/services/users.js';
import { iso } from '../../api/state/db.js';
import { purgeExpiredRows } from '../../api/state/purge.js';
import { appClient, call, makeTestDeps, page } from '../helpers/api-fakes.js';

async function setup(publicUrl = 'http://api.test') {
  const deps = await makeTestDeps();
  deps.publicUrl = () => publicUrl;
  const app = createApp(deps);
  const user = await createUser(deps, 'ada@example.com', 'correct horse battery');
  const token = (await issueTokenPair(deps, user.id)).access_token;
  return { deps, app, token, client: appClient(app, token) };
}

const pathAndQuery = (url: string): string => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

describe('one-time sign-in links and web sessions with a clock', () => {
  it('a link works up to its expiry, not at it; the web session it starts ends after 12 h', async () => {
    const { deps, app, client } = await setup();
    const early = await client.call(routes.webLink, { body: {} });
    const late = await client.call(routes.webLink, { body: {} });
    expect(Date.parse(late.expiresAt)).toBe(deps.clock.ms + WEB_LINK_TTL_MS);

    deps.clock.ms += WEB_LINK_TTL_MS - 1;
    const signedInAt = deps.clock.ms;
    const signedIn = await page(app, 'GET', pathAndQuery(early.url));
    expect(signedIn.status).toBe(303);
    deps.clock.ms += 1;
    expect((await page(app, 'GET', pathAndQuery(late.url))).status).toBe(410);

    const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const me = await page(app, 'GET', routes.webMe.path, { headers: { cookie } });
    expect(me.status).toBe(200);
    const asBrowser = { cookie, [CSRF_HEADER]: me.body.csrf as string };
    deps.clock.ms = signedInAt + WEB_SESSION_TTL_MS - 1;
    expect((await page(app, 'GET', routes.listSessions.path, { headers: asBrowser })).status).toBe(200);
    deps.clock.ms += 1;
    expect((await page(app, 'GET', routes.listSessions.path, { headers: asBrowser })).status).toBe(401);
    expect((await page(app, 'GET', routes.webMe.path, { headers: { cookie } })).status).toBe(401);
  });

  it('a share link works until its TTL, not at it', async () => {
    const { deps, app, token, client } = await setup();
    const s = await client.call(routes.createSession, { body: {} });
    const link = await client.call(routes.createShare, { params: { ref: s.label }, body: { ttlSec: 120 } });
    const asShare = { authorization: `Bearer ${new URL(link.url).hash.slice(1)}` };
    deps.clock.ms += 120_000 - 1;
    expect((await page(app, 'GET', routes.shareSession.path, { headers: asShare })).status).toBe(200);
    deps.clock.ms += 1;
    expect((await page(app, 'GET', routes.shareSession.path, { headers: asShare })).status).toBe(401);
    expect((await call(app, routes.revokeShares, { token, params: { ref: s.label } })).body).toEqual({ revoked: 0 });
  });
});

describe('the cookie', () => {
  it('two of them (one an earlier version scoped to /device, sent first there): the live one counts, logout ends both', async () => {
    const { app, client } = await setup();
    const link = await client.call(routes.webLink, { body: {} });
    const live = (await page(app, 'GET', pathAndQuery(link.url))).headers.getSetCookie()[0]!.split(';')[0]!;
    const both = `${WEB_COOKIE}=stale-from-device; ${live}`;
    const me = await page(app, 'GET', routes.webMe.path, { headers: { cookie: both } });
    expect(me.status).toBe(200);
    expect((await page(app, 'GET', routes.webMe.path, { headers: { cookie: `${WEB_COOKIE}=stale-from-device` } })).status).toBe(401);
    expect((await page(app, 'POST', routes.webLogout.path, { headers: { cookie: both, [CSRF_HEADER]: me.body.csrf as string } })).status).toBe(200);
    expect((await page(app, 'GET', routes.webMe.path, { headers: { cookie: live } })).status).toBe(401);
  });

  for (const [publicUrl, secure] of [
    ['https://catty.example.com', true],
    ['http://127.0.0.1:8080', false],
  ] as const) {
    it(`${publicUrl}: HttpOnly, SameSite=Lax, Path=/, ${secure ? '' : 'not '}Secure — from the link and from /device`, async () => {
      const { app, client } = await setup(publicUrl);
      const link = await client.call(routes.webLink, { body: {} });
      expect(link.url.startsWith(`${publicUrl}/app/signin?code=`)).toBe(true);
      const res = await page(app, 'GET', pathAndQuery(link.url));
      const attrs = res.headers.getSetCookie()[0]!.split(';').map((a) => a.trim().toLowerCase());
      expect(attrs[0]!.startsWith(`${WEB_COOKIE}=`)).toBe(true);
      expect(attrs).toEqual(expect.arrayContaining(['httponly', 'samesite=lax', 'path=/', `max-age=${WEB_SESSION_TTL_MS / 1000}`]));
      expect(attrs.includes('secure')).toBe(secure);

      const form = await page(app, 'GET', '/device');
      const loginCsrf = form.headers.getSetCookie()[0]!.split(';')[0]!;
      const csrf = /name="csrf" value="([^"]+)"/.exec(form.body as string)![1]!;
      const login = await page(app, 'POST', '/device/login', {
        headers: { cookie: loginCsrf, 'content-type': 'application/x-www-form-urlencoded' },
        rawBody: new URLSearchParams({ email: 'ada@example.com', password: 'correct horse battery', code: '', csrf }).toString(),
      });
      expect(login.status).toBe(303);
      const web = login.headers.getSetCookie().find((c) => c.startsWith(`${WEB_COOKIE}=`) && !/max-age=0/i.test(c))!;
      const webAttrs = web.split(';').map((a) => a.trim().toLowerCase());
      expect(webAttrs).toEqual(expect.arrayContaining(['httponly', 'samesite=lax', 'path=/']));
      expect(webAttrs.includes('secure')).toBe(secure);
    });
  }
});

describe('a password reset (what follows a leak)', () => {
  it('signs the browser out and stops the share links the account made', async () => {
    const { deps, app, client } = await setup();
    const link = await client.call(routes.webLink, { body: {} });
    const cookie = (await page(app, 'GET', pathAndQuery(link.url))).headers.getSetCookie()[0]!.split(';')[0]!;
    const pending = await client.call(routes.webLink, { body: {} });
    const s = await client.call(routes.createSession, { body: {} });
    const share = await client.call(routes.createShare, { params: { ref: s.label }, body: {} });
    const asShare = { authorization: `Bearer ${new URL(share.url).hash.slice(1)}` };
    expect((await page(app, 'GET', routes.shareSession.path, { headers: asShare })).status).toBe(200);
    await resetPassword(deps, 'ada@example.com', 'another long password');
    expect((await page(app, 'GET', routes.webMe.path, { headers: { cookie } })).status).toBe(401);
    expect((await page(app, 'GET', pathAndQuery(pending.url))).status).toBe(410);
    expect((await page(app, 'GET', routes.shareSession.path, { headers: asShare })).status).toBe(401);
  });
});

describe('the purge', () => {
  it('used one-time links go at once, expired ones after the cutoff; revoked and expired share links after it', async () => {
    const { deps, app, client } = await setup();
    const used = await client.call(routes.webLink, { body: {} });
    await page(app, 'GET', pathAndQuery(used.url));
    await client.call(routes.webLink, { body: {} });
    const s = await client.call(routes.createSession, { body: {} });
    await client.call(routes.createShare, { params: { ref: s.label }, body: { ttlSec: 7 * 86400 } });
    await client.call(routes.revokeShares, { params: { ref: s.label } });
    await client.call(routes.createShare, { params: { ref: s.label }, body: { ttlSec: 60 } });
    const count = async (table: 'web_links' | 'share_links') => (await deps.db.k.selectFrom(table).selectAll().execute()).length;

    await purgeExpiredRows(deps.db, iso(deps.clock.ms - 24 * 3600_000));
    expect(await count('web_links')).toBe(1);
    expect(await count('share_links')).toBe(2);
    // A day on, as the sweeper cuts: the expired link and both share links are gone.
    deps.clock.ms += 25 * 3600_000;
    await purgeExpiredRows(deps.db, iso(deps.clock.ms - 24 * 3600_000));
    expect(await count('web_links')).toBe(0);
    expect(await count('share_links')).toBe(0);
  });
});
