/** `catty login` (device flow) and `logout` against the real API: approve in "the browser" (HTTP forms). */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import type { TestApi } from '../helpers/api.js';
import { runCli, startCli } from '../helpers/cli.js';
import { testWithApi } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const it = testWithApi();
let api: TestApi;
it.beforeAll(({ api: started }) => {
  api = started;
});

/** Signs in and approves `code` on the API's device page, as a person in a browser would. */
async function approve(completeUrl: string, code: string, decision: 'approve' | 'deny'): Promise<void> {
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = (pair ?? '').split('=');
      if (k && v !== undefined) jar.set(k, v);
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const page1 = await fetch(completeUrl);
  remember(page1);
  const login = await fetch(`${api.url}/device/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ email: api.email, password: api.password, code, csrf: csrfOf(await page1.text()) }),
  });
  remember(login);
  const page2 = await fetch(completeUrl, { headers: { cookie: cookie() } });
  const decide = await fetch(`${api.url}/device/decide`, {
    method: 'POST',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ code, csrf: csrfOf(await page2.text()), action: decision }),
  });
  expect(decide.status).toBe(200);
}

async function loginRun(home: string) {
  const run = startCli(['login', '--api', api.url], { home, env: { CATTY_NO_BROWSER: '1' } });
  const text = await waitFor(() => /\(or open (\S+)\)/.exec(run.stderr.text) && run.stderr.text, 'device code', { timeoutMs: 20_000 });
  const code = /enter the code: (\S+)/.exec(text)?.[1] as string;
  const completeUrl = /\(or open (\S+)\)/.exec(text)?.[1] as string;
  return { run, code, completeUrl };
}

describe('catty login / logout', () => {
  it('logs in with the device flow, saves 0600 credentials that work, and logs out', async () => {
    const home = tempDir('login');
    const { run, code, completeUrl } = await loginRun(home);
    await approve(completeUrl, code, 'approve');
    expect(await run.code).toBe(0);
    expect(run.stderr.text).toContain(`Logged in to ${api.url} as ${api.email}.`);
    const file = path.join(home, 'credentials.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ version: 1, apiUrl: api.url });
    // The saved login is used without --api.
    const list = await runCli(['list', '--json'], { home });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
    expect((await runCli(['logout'], { home })).code).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
  }, 60_000);

  it('fails clearly when the code is denied', async () => {
    const home = tempDir('login');
    const { run, code, completeUrl } = await loginRun(home);
    await approve(completeUrl, code, 'deny');
    expect(await run.code).toBe(1);
    expect(run.stderr.text).toContain('denied');
    expect(fs.existsSync(path.join(home, 'credentials.json'))).toBe(false);
  }, 60_000);
});
