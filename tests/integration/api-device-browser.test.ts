/** The device-code login end to end, with the /device page driven in headless Chromium. */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { DeviceCodeResponse, Me, TokenResponse } from '../../api/contract/schemas.js';
import type { TestApi } from '../helpers/api.js';
import { testWithApi } from '../helpers/fixtures.js';
import { elapse } from '../helpers/wait.js';

const it = testWithApi();
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // no user-data-dir: playwright gives each launch a fresh temporary profile
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

async function startDevice(api: TestApi) {
  return DeviceCodeResponse.parse(await (await fetch(`${api.url}/v1/auth/device`, { method: 'POST' })).json());
}

async function pollToken(api: TestApi, deviceCode: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${api.url}/v1/auth/device/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: GRANT, device_code: deviceCode }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('device login in a real browser', () => {
  it('sign in, approve, and the CLI side gets tokens; a denied code never does', async ({ api }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const codes = await startDevice(api);
    expect((await pollToken(api, codes.device_code)).body.error).toBe('authorization_pending');

    await page.goto(codes.verification_uri_complete);
    await page.fill('#email', api.email);
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]');
    await expect(page.locator('.error').textContent()).resolves.toContain('Wrong email or password');

    await page.fill('#email', api.email);
    await page.fill('#password', api.password);
    await page.click('button[type=submit]');
    await page.waitForSelector('#code');
    expect(await page.inputValue('#code')).toBe(codes.user_code);
    await expect(page.locator('body').textContent()).resolves.toContain(api.email);
    const cookie = (await context.cookies()).find((c) => c.name === 'catty_web');
    // Also the browser view's sign-in (issue 24): the whole origin, SameSite=Lax.
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });

    await page.click('button[value=approve]');
    await expect(page.locator('[role=status]').textContent()).resolves.toContain('Approved');
    // On purpose: the interval is 1 s in tests; let it pass so this poll is not a slow_down.
    await elapse(1100);
    const granted = await pollToken(api, codes.device_code);
    expect(granted.status).toBe(200);
    const tokens = TokenResponse.parse(granted.body);
    const me = Me.parse(await (await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json());
    expect(me.email).toBe(api.email);

    // second code, same signed-in browser: deny
    const denied = await startDevice(api);
    await page.goto(denied.verification_uri_complete);
    await page.click('button[value=deny]');
    await expect(page.locator('[role=status]').textContent()).resolves.toContain('Denied');
    const answer = await pollToken(api, denied.device_code);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('access_denied');

    // the page's CSP forbids scripts from calling fetch; post a form with the browser's cookie
    // but a wrong CSRF token, as a forged form would
    const third = await startDevice(api);
    const forged = (await context.request.post(`${api.url}/device/decide`, { form: { code: third.user_code, action: 'approve', csrf: 'forged' } })).status();
    expect(forged).toBe(403);
    expect((await pollToken(api, third.device_code)).body.error).toBe('authorization_pending');
    await context.close();
  });
});
