/**
 * A share link in real Chromium: opened signed out, it shows the session, its terminal (watch
 * only: no take-control button, no keystroke leaves the page, none reaches the agent) and its
 * files; revoked, the open page says so and a reload finds the link gone.
 */
import type { Browser, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import type { TestApi } from '../helpers/api.js';
import { DESKTOP, fixtureSession, launchChromium, PHONE, screenshot, startBrowserApi, terminalText, waitForTerminal } from '../helpers/browser.js';
import { TestClient } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

let api: TestApi;
let browser: Browser;

beforeAll(async () => {
  [api, browser] = await Promise.all([startBrowserApi(), launchChromium()]);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
});

describe('a share link', () => {
  it('works signed out, shows the output and the files, never takes input, and stops when revoked', async () => {
    const session = await fixtureSession(api, 'echo.mjs', { extra: [{ name: 'notes.md', data: '# shared\n' }] });
    // the laptop: a CLI client through the relay, in control
    const cli = new TestClient({ wsUrl: session.connectUrl.replace(/^http/, 'ws'), token: session.connectToken });
    await cli.waitForHello();
    cli.send(Buffer.from('from-the-laptop'));
    await cli.waitForText('from-the-laptop');

    const share = await api.client.call(routes.createShare, { params: { ref: session.label }, body: {} });
    const token = new URL(share.url).hash.slice(1);
    const context = await browser.newContext({ viewport: DESKTOP });
    const requests: string[] = [];
    context.on('request', (r) => requests.push(r.url()));
    const sockets: PageSocket[] = [];
    const page = await context.newPage();
    page.on('websocket', (ws) => sockets.push(ws));
    await page.goto(share.url);
    await waitForTerminal(page, 'from-the-laptop');
    expect(await context.cookies()).toEqual([]);
    await expect(page.locator('h1').first().textContent()).resolves.toBe(session.label);
    expect(await page.getByRole('button', { name: 'Take control' }).count()).toBe(0);
    await expect(page.getByTestId('control-state').textContent()).resolves.toBe('Watching — the laptop has control');

    // typing in the share page: nothing leaves it, nothing reaches the agent
    let sent = 0;
    sockets[0]!.on('framesent', () => sent++);
    await page.locator('.xterm').click();
    await page.keyboard.type('from-the-share');
    cli.send(Buffer.from('|laptop-again'));
    await waitForTerminal(page, '|laptop-again');
    expect(sent).toBe(0);
    expect(cli.text()).not.toContain('from-the-share');
    expect(await terminalText(page)).not.toContain('from-the-share');
    // the token never travels in a URL
    expect(requests.filter((u) => u.includes(token))).toEqual([]);

    // the files, through the share routes
    await waitFor(async () => (await page.locator('.files-page').textContent())?.includes('notes.md'), 'the shared files listed');
    await screenshot(page, 'share');
    await page.setViewportSize(PHONE);
    // watching on a phone: the PTY's 100 columns, the font scaled down to fit
    await waitFor(async () => (await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('.xterm-rows')!).fontSize))) < 14, 'the font scaled down');
    await screenshot(page, 'share');

    // revoked: the open socket is closed (the relay checks grants every 5 s), a reload is refused
    await api.client.call(routes.revokeShares, { params: { ref: session.label } });
    await waitFor(async () => /revoked|expired/.test((await page.locator('.term-conn').textContent()) ?? ''), 'the page to say the link ended', { timeoutMs: 12_000 });
    await page.reload();
    await waitFor(async () => (await page.locator('main').textContent())?.includes('expired or was revoked'), 'the reloaded page to say the link is gone');
    await context.close();
    await cli.close();
  });
});
