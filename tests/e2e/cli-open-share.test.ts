/**
 * `catty open` and `catty share` through the built `catty` (issue 24), against the built catty-api
 * logged in as the CLI is, and `catty open` on the embedded local control plane the CLI starts
 * itself: the printed link signs a browser in once and lands on the page asked for; a share link
 * shows its session to anyone until `--revoke`; bad durations and unknown sessions are refused
 * with the usage and not-found exit codes.
 */
import path from 'node:path';
import { describe, expect } from 'vitest';
import { routes, WEB_COOKIE } from '../../api/contract/routes.js';
import { onCleanup } from '../helpers/cleanup.js';
import { saveLogin } from '../helpers/credentials.js';
import { testWithApi } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';
import { runCatty } from './harness.js';

const it = testWithApi();

/** A $CATTY_HOME logged in to the test API with its user's token; no browser can be opened. */
function loggedInHome(api: { url: string; token: string }): NodeJS.ProcessEnv {
  const home = tempDir('open-share');
  saveLogin(path.join(home, '.catty'), { apiUrl: api.url, accessToken: api.token });
  return { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), CATTY_NO_BROWSER: '1', NO_COLOR: '1' };
}

async function signsInTo(url: string, expectedNext: string): Promise<string> {
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe(expectedNext);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${WEB_COOKIE}=`))!.split(';')[0]!;
  const me = await fetch(`${new URL(url).origin}${routes.webMe.path}`, { headers: { cookie } });
  expect(me.status).toBe(200);
  return ((await me.json()) as { email: string }).email;
}

describe('catty open', () => {
  it('--print-url prints a one-time link to the sessions page or a session; an unknown label exits 4', async ({ api }) => {
    const env = loggedInHome(api);
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const all = await runCatty(['open', '--print-url'], { cwd: env.HOME!, env });
    expect(all.code, all.stderr).toBe(0);
    const url = all.stdout.trim();
    expect(url).toMatch(new RegExp(`^${api.url}/app/signin\\?code=[A-Za-z0-9_-]+$`));
    expect(all.stderr).toContain('signs a browser in once, within 5 minutes');
    expect(await signsInTo(url, '/app/')).toBe(api.email);
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(410);

    // By id or label: the session's own page, by its label.
    for (const ref of [s.label, s.id]) {
      const one = await runCatty(['open', ref, '--print-url'], { cwd: env.HOME!, env });
      expect(one.code, one.stderr).toBe(0);
      expect(await signsInTo(one.stdout.trim(), `/app/s/${s.label}`)).toBe(api.email);
    }
    // No display (CATTY_NO_BROWSER here): the link is printed rather than opened.
    const headless = await runCatty(['open'], { cwd: env.HOME!, env });
    expect(headless.code, headless.stderr).toBe(0);
    expect(headless.stdout.trim()).toMatch(/\/app\/signin\?code=/);

    const missing = await runCatty(['open', 'no-such-session-1', '--print-url'], { cwd: env.HOME!, env });
    expect(missing.code).toBe(4);
    expect(missing.stdout).toBe('');
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });

  it('on the embedded local control plane, started on demand', async () => {
    const home = tempDir('open-local');
    const env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), CATTY_LOCAL_SANDBOX: 'none', CATTY_NO_BROWSER: '1' };
    // Registered before tempDir's removal runs (later registrations run first).
    onCleanup(() => runCatty(['server', 'stop'], { cwd: home, env }).catch(() => undefined));
    const opened = await runCatty(['open', '--print-url'], { cwd: home, env, timeoutMs: 60_000 });
    expect(opened.code, opened.stderr).toBe(0);
    const url = opened.stdout.trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/app\/signin\?code=/);
    expect(await signsInTo(url, '/app/')).toMatch(/@/);
  });
});

describe('catty share', () => {
  it('prints a read-only link and when it expires; --revoke says how many stopped; bad --ttl exits 2', async ({ api }) => {
    const env = loggedInHome(api);
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const shared = await runCatty(['share', s.label, '--ttl', '2d'], { cwd: env.HOME!, env });
    expect(shared.code, shared.stderr).toBe(0);
    const url = shared.stdout.trim();
    expect(url).toMatch(new RegExp(`^${api.url}/app/share#[A-Za-z0-9_-]+$`));
    const until = new Date(Date.now() + 2 * 86400_000).toISOString().slice(0, 10);
    expect(shared.stderr).toContain(`until ${until}`);
    expect(shared.stderr).toContain(`catty share ${s.label} --revoke`);
    const auth = { authorization: `Bearer ${new URL(url).hash.slice(1)}` };
    const seen = await fetch(`${api.url}${routes.shareSession.path}`, { headers: auth });
    expect(seen.status).toBe(200);
    expect(((await seen.json()) as { label: string }).label).toBe(s.label);

    const second = await runCatty(['share', s.label], { cwd: env.HOME!, env });
    expect(second.code, second.stderr).toBe(0);
    const revoked = await runCatty(['share', s.label, '--revoke'], { cwd: env.HOME!, env });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stderr).toContain(`2 links to ${s.label} stopped working.`);
    expect((await fetch(`${api.url}${routes.shareSession.path}`, { headers: auth })).status).toBe(401);
    const again = await runCatty(['share', s.label, '--revoke'], { cwd: env.HOME!, env });
    expect(again.stderr).toContain(`No live links to ${s.label}.`);

    for (const ttl of ['90s', '1h30m', '8d', 'soon']) {
      const bad = await runCatty(['share', s.label, '--ttl', ttl], { cwd: env.HOME!, env });
      expect(bad.code, ttl).toBe(2);
      expect(bad.stdout).toBe('');
    }
    expect((await runCatty(['share', 'no-such-session-1'], { cwd: env.HOME!, env })).code).toBe(4);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });
});
