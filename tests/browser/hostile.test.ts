/**
 * Security cases 82–85 (tests/security/README.md): the page runs on the origin that holds the
 * sign-in cookie and shows what a session machine wrote. Real Chromium, a real session whose
 * agent prints hostile escapes and whose workspace holds a file named like markup:
 * - 82: the CSP and the other headers are on the shell and the assets; an inline script never
 *   runs (injected into the page, or named as a file);
 * - 83: OSC 52 (set the clipboard) writes nothing to the clipboard;
 * - 84: an OSC 8 link to `javascript:` does nothing when clicked (an https one opens, no opener);
 * - 85: OSC 0/2 titles never reach document.title or the page's text.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import type { CreatedSession } from '../../api/contract/schemas.js';
import { CONTENT_SECURITY_POLICY } from '../../api/web/serve.js';
import type { TestApi } from '../helpers/api.js';
import { DESKTOP, fixtureSession, launchChromium, signIn, startBrowserApi, waitForTerminal } from '../helpers/browser.js';
import { waitFor } from '../helpers/wait.js';

const MARKUP_NAME = '<img src=x onerror=window.__pwned=1>.txt';

/** Prints a title, a clipboard write and two links, then echoes like echo.mjs (it runs it). */
const HOSTILE_AGENT = `
const out = process.stdout;
out.write('\\x1b]0;SPOOFED-TITLE-0\\x07\\x1b]2;SPOOFED-TITLE-2\\x1b\\\\');
out.write('\\x1b]52;c;' + Buffer.from('clipboard-pwned').toString('base64') + '\\x07');
out.write('\\x1b]8;;javascript:window.__pwned=2\\x07JSLINK\\x1b]8;;\\x07 and \\x1b]8;;https://example.invalid/ok\\x07WEBLINK\\x1b]8;;\\x07\\r\\n');
out.write('\\x1b[38;2;255;0;0mTRUECOLOR\\x1b[0m\\r\\n');
out.write('HOSTILE-DONE\\r\\n');
await import('./echo.mjs');
`;

let api: TestApi;
let browser: Browser;
let session: CreatedSession;

beforeAll(async () => {
  [api, browser] = await Promise.all([startBrowserApi(), launchChromium()]);
  session = await fixtureSession(api, 'echo.mjs', {
    run: 'hostile.mjs',
    extra: [
      { name: 'hostile.mjs', data: HOSTILE_AGENT },
      { name: MARKUP_NAME, data: 'a file whose name is markup\n' },
    ],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await api?.close();
});

/** The center of the first occurrence of `text` in the terminal's rows, in page pixels. */
async function terminalTextPoint(page: Page, text: string): Promise<{ x: number; y: number }> {
  const point = await page.evaluate((needle) => {
    for (const row of Array.from(document.querySelectorAll('.xterm-rows > div'))) {
      const at = (row.textContent ?? '').indexOf(needle);
      if (at < 0) continue;
      const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
      let seen = 0;
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const length = node.textContent?.length ?? 0;
        if (at + 2 < seen + length) {
          const range = document.createRange();
          range.setStart(node, at + 2 - seen);
          range.setEnd(node, at + 3 - seen);
          const rect = range.getBoundingClientRect();
          return { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
        }
        seen += length;
      }
    }
    return null;
  }, text);
  if (!point) throw new Error(`${text} is not on the terminal`);
  return point;
}

const hostileTerminal = (context: BrowserContext): Promise<Page> => signIn(api, context, `/app/s/${session.label}`);

describe('hostile content on the page', () => {
  it('82: the shell and the assets carry the CSP and its companions; an inline script never runs', async () => {
    const shell = await fetch(`${api.url}/app/s/${session.label}`);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(shell.headers.get('x-content-type-options')).toBe('nosniff');
    expect(shell.headers.get('referrer-policy')).toBe('no-referrer');
    expect(shell.headers.get('x-frame-options')).toBe('DENY');
    expect(shell.headers.get('cache-control')).toBe('no-store');
    const html = await shell.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/\sstyle=/);
    const asset = html.match(/src="(\/app\/assets\/[^"]+\.js)"/)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${api.url}${asset}`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${api.url}/app/assets/manifest.json`)).status).toBe(404);
    expect((await fetch(`${api.url}/app/assets/..%2f..%2fpackage.json`)).status).toBe(404);

    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await hostileTerminal(context);
    await waitForTerminal(page, 'HOSTILE-DONE');
    // markup that got into the DOM some other way: the CSP still keeps its script from running
    const ran = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.__inline = 1';
      document.body.append(script);
      const img = document.createElement('div');
      img.innerHTML = '<img src="data:," onerror="window.__inline = 2">';
      document.body.append(img);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return (window as unknown as { __inline?: number }).__inline ?? null;
    });
    expect(ran).toBeNull();

    // xterm under the strict CSP (api/web/page/terminal/csp-adapter.ts): a 24-bit colour, which
    // xterm sets as a style attribute, shows; so does the theme's foreground, from its <style>
    const colours = await page.evaluate(() => {
      const span = Array.from(document.querySelectorAll('.xterm-rows span')).find((e) => e.textContent === 'TRUECOLOR');
      return { truecolor: span ? getComputedStyle(span).color : null, foreground: getComputedStyle(document.querySelector('.xterm-rows') ?? document.body).color };
    });
    expect(colours).toEqual({ truecolor: 'rgb(255, 0, 0)', foreground: 'rgb(216, 222, 233)' });

    // the file named like markup, in the files view: text, never an element
    await page.goto(`${api.url}/app/s/${session.label}/files`);
    await waitFor(async () => (await page.locator('body').textContent())?.includes(MARKUP_NAME), 'the markup-named file listed as text');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? null)).toBeNull();
    await context.close();
  });

  it('83: an OSC 52 clipboard write from the agent leaves the clipboard as it was', async () => {
    const context = await browser.newContext({ viewport: DESKTOP, permissions: ['clipboard-read', 'clipboard-write'] });
    // Count every way a page writes the clipboard, before the page's own script runs.
    await context.addInitScript(() => {
      const w = window as unknown as { __clipboardWrites: number };
      w.__clipboardWrites = 0;
      const clipboard = navigator.clipboard;
      for (const name of ['writeText', 'write'] as const) {
        const original = clipboard[name].bind(clipboard) as (...args: unknown[]) => Promise<void>;
        Object.defineProperty(clipboard, name, { value: (...args: unknown[]) => (w.__clipboardWrites++, original(...args)) });
      }
      const exec = document.execCommand.bind(document);
      document.execCommand = (command: string, ...rest: unknown[]) => {
        if (/copy|cut/i.test(command)) w.__clipboardWrites++;
        return exec(command, ...(rest as [boolean, string]));
      };
      document.addEventListener('copy', () => w.__clipboardWrites++, true);
    });
    const page = await context.newPage();
    await page.goto(`${api.url}/app/`);
    await page.evaluate(() => navigator.clipboard.writeText('clipboard-before'));
    await page.evaluate(() => ((window as unknown as { __clipboardWrites: number }).__clipboardWrites = 0));
    const link = await api.client.call(routes.webLink, { body: { next: `/app/s/${session.label}` } });
    await page.goto(link.url);
    await waitForTerminal(page, 'HOSTILE-DONE');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('clipboard-before');
    expect(await page.evaluate(() => (window as unknown as { __clipboardWrites: number }).__clipboardWrites)).toBe(0);
    await context.close();
  });

  it('84: an OSC 8 javascript: link does nothing when clicked; an https one opens with no opener', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await hostileTerminal(context);
    await waitForTerminal(page, 'HOSTILE-DONE');
    const popups: Page[] = [];
    context.on('page', (p) => popups.push(p));
    await context.route('https://example.invalid/**', (route) => route.fulfill({ contentType: 'text/plain', body: 'the link opened' }));

    const js = await terminalTextPoint(page, 'JSLINK');
    await page.mouse.move(js.x, js.y);
    await page.mouse.move(js.x + 1, js.y);
    await page.mouse.click(js.x + 1, js.y);
    const web = await terminalTextPoint(page, 'WEBLINK');
    await page.mouse.move(web.x, web.y);
    await page.mouse.move(web.x + 1, web.y);
    await page.mouse.click(web.x + 1, web.y);
    // the https link's tab is the barrier: the javascript: click came before it
    const opened = await waitFor(() => popups.find((p) => p.url() === 'https://example.invalid/ok'), () => `the https link's tab (tabs: ${popups.map((p) => p.url()).join(', ')})`);
    expect(await opened.evaluate(() => window.opener)).toBeNull();
    expect(popups.map((p) => p.url())).toEqual(['https://example.invalid/ok']);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? null)).toBeNull();
    await context.close();
  });

  it('85: OSC 0 and OSC 2 title changes reach neither document.title nor the page', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await hostileTerminal(context);
    await waitForTerminal(page, 'HOSTILE-DONE');
    expect(await page.title()).toBe('catty');
    const outside = await page.evaluate(() => Array.from(document.body.querySelectorAll('*')).filter((e) => !e.closest('.xterm') && e.children.length === 0).map((e) => e.textContent).join(' '));
    expect(outside).not.toContain('SPOOFED');
    await context.close();
  });
});
