/**
 * Hints that point the right way (issue 19, item 10): an API that cannot be reached is reported
 * as unreachable — not as "not logged in" — with the setting its URL came from; only the
 * embedded local control plane's failures mention `catty server`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi } from '../helpers/cli-fake-api.js';
import { runCli } from '../helpers/cli.js';
import { saveLogin } from '../helpers/credentials.js';
import { freeLoopbackPort } from '../helpers/loopback.js';
import { tempDir } from '../helpers/temp-dir.js';

let down: string;
let api: FakeApi;
beforeAll(async () => {
  down = `http://127.0.0.1:${await freeLoopbackPort()}`; // nothing listens there
  api = await FakeApi.start();
});
afterAll(() => api.close());

function expectUnreachable(result: { code: number; stderr: string }, setting: string): void {
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('connection refused');
  expect(result.stderr).toContain(setting);
  expect(result.stderr).not.toContain('Not logged in');
  expect(result.stderr).not.toContain('catty server');
}

describe('an API that cannot be reached', () => {
  it('given with --api and no login: unreachable, check --api', async () => {
    expectUnreachable(await runCli(['--api', down, 'ls'], { home: tempDir('hints') }), 'Check the --api URL');
  });

  it('from CATTY_API_URL: unreachable, check CATTY_API_URL', async () => {
    expectUnreachable(await runCli(['ls'], { home: tempDir('hints'), env: { CATTY_API_URL: down } }), 'Check CATTY_API_URL');
  });

  it('of the saved login: unreachable, it is the saved login', async () => {
    const home = tempDir('hints');
    saveLogin(home, { apiUrl: down, accessToken: 'a' });
    expectUnreachable(await runCli(['ls'], { home }), 'your saved login');
  });
});

describe('an API that answers, without a login to it', () => {
  it('exits 3 and names the login command for that URL', async () => {
    const result = await runCli(['--api', api.url, 'ls'], { home: tempDir('hints') });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`Not logged in to ${api.url}.`);
    expect(result.stderr).toContain(`catty login --api ${api.url}`);
    // Asked only whether it answers: no request with a body (a new session's secrets) went out.
    expect(api.state.requests).toEqual(['GET /healthz']);
  });

  it('a token it refuses, for a URL given with --api: exits 3 and names the login for that URL', async () => {
    const home = tempDir('hints');
    saveLogin(home, { apiUrl: api.url, accessToken: 'expired-access', refreshToken: 'expired-refresh' });
    const result = await runCli(['--api', api.url, 'ls'], { home });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`Not logged in to ${api.url}`);
    expect(result.stderr).toContain(`catty login --api ${api.url}`);
  });
});
