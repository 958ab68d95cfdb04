/**
 * The browser view's routes (issue 24) against the built catty-api with real runtimes: the
 * one-time sign-in link and the cookie it sets, the CSRF header every cookie request carries,
 * webMe and logout, share links (read-only, expiring, revocable, never an owner's key), another
 * user's sessions out of reach through the cookie and through a share link, the files of a running
 * session through its runtime, and a browser's resume of a session started with secrets.
 * Security cases 73–77 (tests/security/README.md). Expiry is moved in the database (the built API
 * runs on the wall clock); the exact boundaries with an injected clock: ../unit/api-web-links.test.ts.
 */
import { describe, expect } from 'vitest';
import { routes, SIGNIN_LINK_PATH, WEB_COOKIE, CSRF_HEADER, type AnyRoute } from '../../api/contract/routes.js';
import type { ApiClient } from '../../api/contract/client.js';
import { SECRETS_REQUIRED } from '../../api/contract/schemas.js';
import { testWithApi } from '../helpers/fixtures.js';
import type { TestApi } from '../helpers/api.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

const it = testWithApi({ runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1000' } });
const POLL = { timeoutMs: 30_000, everyMs: 100 };

interface Browser {
  cookie: string;
  csrf: string;
}

/** Follows a one-time link as a browser would (no redirects followed): its answer. */
function follow(url: string, cookie?: string): Promise<Response> {
  return fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
}

/** A browser signed in through `catty open`'s link, minted with `client`'s token. */
async function signIn(client: ApiClient, baseUrl: string, next?: string): Promise<Browser> {
  const link = await client.call(routes.webLink, { body: next ? { next } : {} });
  const res = await follow(link.url);
  expect(res.status).toBe(303);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${WEB_COOKIE}=`))!.split(';')[0]!;
  const me = await fetch(`${baseUrl}${routes.webMe.path}`, { headers: { cookie } });
  expect(me.status).toBe(200);
  return { cookie, csrf: ((await me.json()) as { csrf: string }).csrf };
}

/** One request to the API with whatever credentials a test gives it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test reads the answer's shape it expects
async function request(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    redirect: 'manual',
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // an HTML page
  }
  return { status: res.status, json, headers: res.headers };
}

const withCookie = (b: Browser, csrf: string | null = b.csrf): Record<string, string> => ({ cookie: b.cookie, ...(csrf === null ? {} : { [CSRF_HEADER]: csrf }) });
const pathOf = (route: AnyRoute, ref: string): string => route.path.replace(':ref', encodeURIComponent(ref));
const userRoutes = (): AnyRoute[] => Object.values(routes).filter((r) => r.auth === 'user');

async function setExpiry(api: TestApi, table: 'web_links' | 'share_links', expiresAt: string): Promise<void> {
  const db = await api.openDb();
  try {
    await db.k.updateTable(table).set({ expires_at: expiresAt }).execute();
  } finally {
    await db.close();
  }
}

describe('one-time sign-in links (security 73)', () => {
  it('sign in once, land on next, cookie HttpOnly SameSite=Lax Path=/ (not Secure on http); a second use, an expired or unknown code → 410 page', async ({ api }) => {
    const link = await api.client.call(routes.webLink, { body: { next: '/app/s/some-label' } });
    expect(link.url).toMatch(new RegExp(`^${api.url}${SIGNIN_LINK_PATH}\\?code=[A-Za-z0-9_-]{40,}$`));
    expect(Date.parse(link.expiresAt) - Date.now()).toBeLessThanOrEqual(5 * 60_000);

    const first = await follow(link.url);
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/app/s/some-label');
    const setCookie = first.headers.getSetCookie().find((c) => c.startsWith(`${WEB_COOKIE}=`))!;
    const attrs = setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attrs).toContain('httponly');
    expect(attrs).toContain('samesite=lax');
    expect(attrs).toContain('path=/');
    expect(attrs.some((a) => a.startsWith('max-age='))).toBe(true);
    expect(attrs).not.toContain('secure');

    // Single use: the same link again is the expired page, and sets nothing.
    const again = await follow(link.url);
    expect(again.status).toBe(410);
    expect(again.headers.getSetCookie()).toEqual([]);
    const page = await again.text();
    expect(page).toContain('This link was used or expired; run catty open again.');
    expect(again.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(again.headers.get('x-frame-options')).toBe('DENY');
    expect(again.headers.get('cache-control')).toBe('no-store');

    // Expired before use.
    const late = await api.client.call(routes.webLink, { body: {} });
    await setExpiry(api, 'web_links', new Date(Date.now() - 1000).toISOString());
    expect((await follow(late.url)).status).toBe(410);

    // Unknown, empty, hostile codes.
    for (const code of ['', 'nope', '<script>alert(1)</script>', 'x'.repeat(5000)]) {
      const res = await follow(`${api.url}${SIGNIN_LINK_PATH}?code=${encodeURIComponent(code)}`);
      expect(res.status).toBe(410);
      expect(await res.text()).not.toContain('<script>');
    }
  });

  it('only the CLI mints links: a signed-in browser cannot (403); next must be a page of /app', async ({ api }) => {
    const browser = await signIn(api.client, api.url);
    const minted = await request(api.url, 'POST', routes.webLink.path, withCookie(browser), {});
    expect(minted.status).toBe(403);
    for (const next of ['https://evil.example/app/', '//evil.example/app/', '/device', '/app/../device', '/app/%2e%2e/device', '/app/.%2E/device', '/app/\\evil', 'javascript:alert(1)']) {
      const res = await request(api.url, 'POST', routes.webLink.path, { authorization: `Bearer ${api.token}` }, { next });
      expect(res.status, next).toBe(400);
    }
    for (const next of ['/app', '/app/', '/app/s/brave-otter-1234', '/app/s/brave-otter-1234/files']) {
      const res = await request(api.url, 'POST', routes.webLink.path, { authorization: `Bearer ${api.token}` }, { next });
      expect(res.status, next).toBe(201);
      expect((await follow(res.json.url)).headers.get('location')).toBe(next);
    }
  });

  it('signing in on /device signs the browser view in too (the same cookie, path /)', async ({ api }) => {
    const page = await fetch(`${api.url}/device`);
    const loginCsrf = page.headers.getSetCookie().map((c) => c.split(';')[0]!).join('; ');
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const login = await fetch(`${api.url}/device/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: loginCsrf, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: api.email, password: api.password, code: '', csrf }).toString(),
    });
    expect(login.status).toBe(303);
    const web = login.headers.getSetCookie().find((c) => c.startsWith(`${WEB_COOKIE}=`) && !/max-age=0/i.test(c))!;
    expect(web.toLowerCase()).toContain('path=/;');
    expect(web.toLowerCase()).toContain('samesite=lax');
    const me = await request(api.url, 'GET', routes.webMe.path, { cookie: web.split(';')[0]! });
    expect(me.status).toBe(200);
    expect(me.json.email).toBe(api.email);
  });
});

describe('the cookie and its CSRF header (security 74)', () => {
  it('webMe: the cookie alone → who and the CSRF token; no cookie, or a bearer token → 401', async ({ api }) => {
    const browser = await signIn(api.client, api.url);
    const me = await request(api.url, 'GET', routes.webMe.path, { cookie: browser.cookie });
    expect(me.json).toEqual({ email: api.email, csrf: browser.csrf });
    expect(me.headers.get('cache-control')).toBe('no-store');
    expect((await request(api.url, 'GET', routes.webMe.path, {})).status).toBe(401);
    expect((await request(api.url, 'GET', routes.webMe.path, { authorization: `Bearer ${api.token}` })).status).toBe(401);
    expect((await request(api.url, 'GET', routes.webMe.path, { cookie: `${WEB_COOKIE}=forged` })).status).toBe(401);
  });

  it('every user route: the cookie without the header, or with a wrong one → 403 (GETs too); with it the route runs', async ({ api }) => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const browser = await signIn(api.client, api.url);
    const checked: string[] = [];
    for (const route of userRoutes()) {
      for (const csrf of [null, 'wrong', `${browser.csrf}x`, '']) {
        const res = await request(api.url, route.method, pathOf(route, s.label), withCookie(browser, csrf), route.method === 'GET' ? undefined : {});
        expect(res.status, `${route.method} ${route.path} csrf=${String(csrf)}`).toBe(403);
        expect(res.json.error.code).toBe('csrf');
      }
      checked.push(route.path);
    }
    expect(checked).toEqual(expect.arrayContaining([routes.listSessions.path, routes.stop.path, routes.download.path, routes.webLogout.path, routes.createShare.path, routes.sessionFiles.path, routes.resume.path]));
    // Nothing happened: the session still runs, no link was minted for it.
    expect((await api.client.call(routes.getSession, { params: { ref: s.label } })).status).toBe('running');
    const listed = await request(api.url, 'GET', routes.listSessions.path, withCookie(browser));
    expect(listed.status).toBe(200);
    expect(listed.json.sessions.map((x: { label: string }) => x.label)).toContain(s.label);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });

  it('logout ends the web session (the row, not only the cookie) and clears the cookie', async ({ api }) => {
    const browser = await signIn(api.client, api.url);
    expect((await request(api.url, 'POST', routes.webLogout.path, withCookie(browser, null))).status).toBe(403);
    const out = await request(api.url, 'POST', routes.webLogout.path, withCookie(browser));
    expect(out.status).toBe(200);
    const cleared = out.headers.getSetCookie().find((c) => c.startsWith(`${WEB_COOKIE}=`))!;
    expect(cleared.toLowerCase()).toMatch(/max-age=0/);
    expect(cleared.toLowerCase()).toContain('path=/');
    // The old cookie, replayed, is dead.
    expect((await request(api.url, 'GET', routes.webMe.path, { cookie: browser.cookie })).status).toBe(401);
    expect((await request(api.url, 'GET', routes.listSessions.path, withCookie(browser))).status).toBe(401);
  });
});

describe('share links (security 75)', () => {
  it('read-only: the session it names and nothing else; never an owner route; revoked or expired → 401', async ({ api }) => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const link = await api.client.call(routes.createShare, { params: { ref: s.label }, body: {} });
    expect(Date.parse(link.expiresAt) - Date.now()).toBeGreaterThan(3590_000);
    expect(Date.parse(link.expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000);
    const token = new URL(link.url).hash.slice(1);
    expect(link.url.startsWith(`${api.url}/app/share#`)).toBe(true);
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const asShare = { authorization: `Bearer ${token}` };

    const shared = await request(api.url, 'GET', routes.shareSession.path, asShare);
    expect(shared.status).toBe(200);
    expect(shared.json).toEqual({ label: s.label, status: 'running', agent: s.agent, createdAt: s.createdAt, linkExpiresAt: link.expiresAt });

    // No owner route takes it: stop, download, connect, webLink, another share… all 401.
    for (const route of [...userRoutes(), routes.webMe]) {
      const res = await request(api.url, route.method, pathOf(route, s.label), asShare, route.method === 'GET' ? undefined : {});
      expect(res.status, `${route.method} ${route.path}`).toBe(401);
    }
    expect((await api.client.call(routes.getSession, { params: { ref: s.label } })).status).toBe('running');

    // TTL bounds.
    for (const ttlSec of [59, 7 * 86400 + 1, 1.5]) {
      expect((await request(api.url, 'POST', pathOf(routes.createShare, s.label), { authorization: `Bearer ${api.token}` }, { ttlSec })).status).toBe(400);
    }
    const second = await api.client.call(routes.createShare, { params: { ref: s.label }, body: { ttlSec: 60 } });
    expect(Date.parse(second.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);

    // Revoked: every live link of the session, counted once.
    expect(await api.client.call(routes.revokeShares, { params: { ref: s.label } })).toEqual({ revoked: 2 });
    expect(await api.client.call(routes.revokeShares, { params: { ref: s.label } })).toEqual({ revoked: 0 });
    for (const t of [token, new URL(second.url).hash.slice(1)]) {
      expect((await request(api.url, 'GET', routes.shareSession.path, { authorization: `Bearer ${t}` })).status).toBe(401);
      expect((await request(api.url, 'GET', routes.shareFiles.path, { authorization: `Bearer ${t}` })).status).toBe(401);
    }

    // Expired.
    const third = await api.client.call(routes.createShare, { params: { ref: s.label }, body: {} });
    const thirdAuth = { authorization: `Bearer ${new URL(third.url).hash.slice(1)}` };
    expect((await request(api.url, 'GET', routes.shareSession.path, thirdAuth)).status).toBe(200);
    await setExpiry(api, 'share_links', new Date(Date.now() - 1000).toISOString());
    expect((await request(api.url, 'GET', routes.shareSession.path, thirdAuth)).status).toBe(401);

    // A deleted session's links die with it.
    const fourth = await api.client.call(routes.createShare, { params: { ref: s.label }, body: {} });
    await api.client.call(routes.deleteSession, { params: { ref: s.label } });
    expect((await request(api.url, 'GET', routes.shareSession.path, { authorization: `Bearer ${new URL(fourth.url).hash.slice(1)}` })).status).toBe(401);
  });
});

describe("another user's sessions (security 76)", () => {
  it('by id or label through the cookie → 404; through a share link of their session, only that one; a share of ours opens nothing of theirs', async ({ api }) => {
    const bob = await api.addUser('bob-web@example.com');
    const theirs = await bob.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const ours = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const browser = await signIn(api.client, api.url);
    for (const ref of [theirs.id, theirs.label]) {
      for (const route of [routes.getSession, routes.connect, routes.stop, routes.download, routes.logs, routes.sessionFiles, routes.sessionFileDiff, routes.createShare, routes.revokeShares, routes.resume, routes.fork, routes.deleteSession]) {
        const body = route.method === 'GET' ? undefined : route === routes.sessionFileDiff ? { path: 'x' } : {};
        const res = await request(api.url, route.method, pathOf(route, ref), withCookie(browser), body);
        expect(res.status, `${route.method} ${route.path} ${ref}`).toBe(404);
      }
    }
    const listed = await request(api.url, 'GET', routes.listSessions.path, withCookie(browser));
    expect(listed.json.sessions.map((x: { id: string }) => x.id)).not.toContain(theirs.id);
    expect((await bob.call(routes.getSession, { params: { ref: theirs.id } })).status).toBe('running');

    // Bob shares his: the link shows his session and nothing else — there is no ref to change.
    const bobShare = await bob.call(routes.createShare, { params: { ref: theirs.label }, body: {} });
    const bobAuth = { authorization: `Bearer ${new URL(bobShare.url).hash.slice(1)}` };
    expect((await request(api.url, 'GET', routes.shareSession.path, bobAuth)).json.label).toBe(theirs.label);
    for (const ref of [ours.id, ours.label, theirs.id]) {
      expect((await request(api.url, 'GET', pathOf(routes.getSession, ref), bobAuth)).status).toBe(401);
    }
    // Ours shared: no way from it to Bob's.
    const ourShare = await api.client.call(routes.createShare, { params: { ref: ours.label }, body: {} });
    const ourAuth = { authorization: `Bearer ${new URL(ourShare.url).hash.slice(1)}` };
    expect((await request(api.url, 'GET', routes.shareSession.path, ourAuth)).json.label).toBe(ours.label);
    expect((await request(api.url, 'GET', `${routes.shareSession.path}?ref=${theirs.id}`, ourAuth)).json.label).toBe(ours.label);
    expect((await request(api.url, 'GET', pathOf(routes.getSession, theirs.id), ourAuth)).status).toBe(401);
    await bob.call(routes.stop, { params: { ref: theirs.label } });
    await api.client.call(routes.stop, { params: { ref: ours.label } });
  });
});

describe('a browser resume or fork of a session started with secrets (security 77)', () => {
  it('409 secrets_required naming the secrets and the line to run; the CLI (token) and a session without secrets go on', async ({ api }) => {
    const withSecrets = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false, secrets: { GH_TOKEN: 'ghp-secret-value', DEPLOY_KEY: 'k' } } });
    const plain = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    await api.client.call(routes.stop, { params: { ref: withSecrets.label } });
    await api.client.call(routes.stop, { params: { ref: plain.label } });
    const browser = await signIn(api.client, api.url);

    const resumed = await request(api.url, 'POST', pathOf(routes.resume, withSecrets.label), withCookie(browser), {});
    expect(resumed.status).toBe(409);
    expect(resumed.json.error).toEqual({
      code: SECRETS_REQUIRED,
      message: `this session was started with secrets (DEPLOY_KEY, GH_TOKEN); the browser cannot send them — run \`catty resume ${withSecrets.label}\` in a terminal`,
    });
    const forked = await request(api.url, 'POST', pathOf(routes.fork, withSecrets.id), withCookie(browser), {});
    expect(forked.status).toBe(409);
    expect(forked.json.error.message).toContain(`run \`catty fork ${withSecrets.label}\` in a terminal`);

    // Past the check: the CLI's resume (its secrets are sent again) and a session without any
    // reach the snapshot (these have none: 404 no_snapshot).
    for (const [headers, label] of [[{ authorization: `Bearer ${api.token}` }, withSecrets.label], [withCookie(browser), plain.label]] as const) {
      const res = await request(api.url, 'POST', pathOf(routes.resume, label), headers, {});
      expect(res.json.error.code, label).toBe('no_snapshot');
    }

    // Names only in the database, never a value.
    const db = await api.openDb();
    try {
      const row = await db.k.selectFrom('sessions').select('secret_names').where('id', '=', withSecrets.id).executeTakeFirstOrThrow();
      expect(row.secret_names).toBe('["DEPLOY_KEY","GH_TOKEN"]');
      expect((await db.k.selectFrom('sessions').select('secret_names').where('id', '=', plain.id).executeTakeFirstOrThrow()).secret_names).toBeNull();
    } finally {
      await db.close();
    }
  });
});

describe('the files of a running session, and lastSnapshotAt', () => {
  it('owner and share link see the tree and a diff; an ended session → 409; the list says when its snapshot was taken', async ({ api }) => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 1; echo "changed <script>" >> hello.txt; echo new > "<img src=x onerror=alert(1)>.txt"; sleep 600' } });
    const zip = buildZip([{ name: 'hello.txt', data: 'hello\n' }, { name: 'src/main.py', data: 'print(1)\n' }]);
    expect((await runtimeFetch(s, '/upload?cols=80&rows=24', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: zip })).status).toBe(200);
    const browser = await signIn(api.client, api.url);

    const tree = await waitFor(async () => {
      const res = await request(api.url, 'GET', pathOf(routes.sessionFiles, s.label), withCookie(browser));
      expect(res.status).toBe(200);
      return res.json.entries.some((e: { change?: string }) => e.change === 'added') ? res.json : null;
    }, 'the agent to change files', POLL);
    expect(tree.base).toBe('upload');
    expect(tree.entries).toContainEqual(expect.objectContaining({ path: 'hello.txt', kind: 'file', change: 'modified' }));
    expect(tree.entries).toContainEqual(expect.objectContaining({ path: '<img src=x onerror=alert(1)>.txt', change: 'added' }));
    expect(tree.entries).toContainEqual(expect.objectContaining({ path: 'src/main.py', kind: 'file' }));

    const diff = await api.client.call(routes.sessionFileDiff, { params: { ref: s.label }, body: { path: 'hello.txt' } });
    expect(diff).toMatchObject({ path: 'hello.txt', change: 'modified', base: { kind: 'text', text: 'hello\n' }, current: { kind: 'text', text: 'hello\nchanged <script>\n' } });
    // A path the runtime refuses, or does not have.
    expect((await request(api.url, 'POST', pathOf(routes.sessionFileDiff, s.label), withCookie(browser), { path: 'nope.txt' })).status).toBe(404);
    expect((await request(api.url, 'POST', pathOf(routes.sessionFileDiff, s.label), withCookie(browser), { path: '../../etc/passwd' })).status).toBeGreaterThanOrEqual(400);

    // Through a share link: the same, read-only.
    const link = await api.client.call(routes.createShare, { params: { ref: s.label }, body: {} });
    const asShare = { authorization: `Bearer ${new URL(link.url).hash.slice(1)}` };
    const sharedTree = await request(api.url, 'GET', routes.shareFiles.path, asShare);
    expect(sharedTree.json.entries).toContainEqual(expect.objectContaining({ path: 'hello.txt', change: 'modified' }));
    const sharedDiff = await request(api.url, 'POST', routes.shareFileDiff.path, asShare, { path: 'hello.txt' });
    expect(sharedDiff.json.current.text).toBe('hello\nchanged <script>\n');

    // lastSnapshotAt: the scheduled snapshot (every second here) shows in the list and the get.
    const listed = await waitFor(async () => (await api.client.call(routes.listSessions)).sessions.find((x) => x.id === s.id && x.lastSnapshotAt), 'a recorded snapshot', POLL);
    expect(Date.parse(listed.lastSnapshotAt!)).toBeGreaterThan(Date.parse(s.createdAt) - 1000);
    const got = (await api.client.call(routes.getSession, { params: { ref: s.label } })).lastSnapshotAt!;
    expect(got >= listed.lastSnapshotAt!).toBe(true);

    await api.client.call(routes.stop, { params: { ref: s.label } });
    const ended = await request(api.url, 'GET', pathOf(routes.sessionFiles, s.label), withCookie(browser));
    expect(ended.status).toBe(409);
    expect(ended.json.error.code).toBe('session_ended');
    expect((await request(api.url, 'GET', routes.shareFiles.path, asShare)).status).toBe(409);
    const never = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    expect((await api.client.call(routes.getSession, { params: { ref: never.label } })).lastSnapshotAt).toBeNull();
    await api.client.call(routes.stop, { params: { ref: never.label } });
  });
});
