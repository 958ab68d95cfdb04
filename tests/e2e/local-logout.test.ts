/**
 * `catty logout` and the local control plane (issue 19, item 4): logging out — with or without a
 * remote login — never locks the user out of the local control plane, whose tokens live in its
 * own file. (It did: `catty logout; catty ls` → "Not logged in to http://127.0.0.1:…".)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveCredentials } from '../../cli/config.js';
import { createContext } from '../../cli/context.js';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { tempDir } from '../helpers/temp-dir.js';
import { elapse } from '../helpers/wait.js';
import { runCatty } from './harness.js';

const home = tempDir('local-logout');
const cattyHome = path.join(home, '.catty');
// Access tokens of 2 s: every command after a pause refreshes (and so rotates) the local tokens.
const env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: cattyHome, CATTY_KEYRING: 'off', CATTY_LOCAL_SANDBOX: 'none', CATTY_ACCESS_TOKEN_TTL_SEC: '2' };
const catty = (...args: string[]) => runCatty(args, { cwd: home, env });
let remote: FakeApi;

beforeAll(async () => {
  remote = await FakeApi.start();
});
afterAll(async () => {
  await catty('server', 'stop').catch(() => undefined);
  await remote.close();
});

describe('logout and the local control plane', () => {
  it('without a remote login: says so, and the local control plane keeps working', async () => {
    const first = await catty('ls', '--json');
    expect(first.code, first.stderr).toBe(0);
    const out = await catty('logout');
    expect(out.code).toBe(0);
    expect(out.stderr).toContain('Not logged in to a remote API; the local control plane needs no login.');
    const after = await catty('ls', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual([]);
  }, 90_000);

  it('after logging out of a remote API, the local tokens (refreshed meanwhile) still work', async () => {
    await elapse(2_500); // on purpose: the local access token expires, so `ls` refreshes it
    expect((await catty('ls')).code).toBe(0);
    loginTo(cattyHome, remote); // a remote login takes precedence…
    const listed = await catty('ls', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect(remote.state.requests).toContain('GET /v1/sessions');
    const out = await catty('logout'); // …and, forgotten, leaves the local control plane as it was
    expect(out.code).toBe(0);
    expect(out.stderr).toContain(`Logged out of ${remote.url}.`);
    expect(fs.existsSync(path.join(cattyHome, 'credentials.json'))).toBe(false);
    await elapse(2_500); // the local access token has expired again: only its refresh token counts
    const after = await catty('ls', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual([]);
  }, 90_000);

  it("takes back the local tokens an earlier version kept in credentials.json (the newer ones)", async () => {
    const localFile = path.join(cattyHome, 'local', 'credentials.json');
    const live = JSON.parse(fs.readFileSync(localFile, 'utf8')) as { apiUrl: string; accessToken: string; refreshToken: string; accessTokenExpiresAt: string };
    // What an earlier version left: the live pair in credentials.json (marked local), a used one
    // in the server's file.
    saveCredentials(createContext({ env: { CATTY_HOME: cattyHome } }, { insecure: false, debug: false }, REPO_ROOT), {
      version: 1,
      apiUrl: live.apiUrl,
      accessToken: live.accessToken,
      refreshToken: live.refreshToken,
      expiresAt: live.accessTokenExpiresAt,
      local: true,
    });
    fs.writeFileSync(localFile, JSON.stringify({ ...live, accessToken: 'cat_at_used', refreshToken: 'cat_rt_used' }));
    const after = await catty('ls', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(fs.existsSync(path.join(cattyHome, 'credentials.json'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(localFile, 'utf8'))).not.toMatchObject({ refreshToken: 'cat_rt_used' });
  }, 30_000);

  it('server status --json describes it for scripts', async () => {
    const status = await catty('server', 'status', '--json');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), pid: expect.any(Number), answering: true, sessions: { total: 0, running: 0 } });
  }, 30_000);
});
