/**
 * The files view (issue 24, api/web/page/files/) in headless Chromium, against the built API and
 * a real session: the upload is the base, and the session's agent (a script that came with it)
 * adds, modifies and deletes files — hostile names, a diff holding markup, a binary file, a file
 * over the size the runtime sends, a 1 MB line, 100k lines, two texts too different to diff, and
 * 20,100 files (more than the tree lists). The view is bundled here with esbuild and served on
 * the API's own origin under the API's Content-Security-Policy; its FilesSource calls the real
 * `sessionFiles` / `sessionFileDiff` routes, which ask the session's runtime.
 *
 * Security cases 86–88 (tests/security/README.md): hostile file names, hostile diff text,
 * pathological diffs bounded.
 */
import { randomBytes } from 'node:crypto';
import { build } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { CONTENT_SECURITY_POLICY } from '../../api/web/serve.js';
import { MAX_DIFF_TEXT_BYTES, MAX_TREE_ENTRIES } from '../../session-runtime/wire/protocol.js';
import { SENT_TEXT_LIMIT_BYTES } from '../../api/web/page/files/file-panel.js';
import { ROW_CHUNK, MAX_LINE_CHARS } from '../../api/web/page/files/diff-view.js';
import { LIST_CHUNK } from '../../api/web/page/files/tree-view.js';
import { sessionLogs, type TestApi } from '../helpers/api.js';
import { DESKTOP, PHONE, launchChromium, screenshot, signIn } from '../helpers/browser.js';
import { testWithApi } from '../helpers/fixtures.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { buildZip, type RawEntry } from '../helpers/runtime-zip.js';
import { waitFor } from '../helpers/wait.js';

const it = testWithApi();
const HARNESS = '/files-harness';
/** A case may start a session and wait for its agent (20,100 files take a minute on a busy host). */
const SESSION_TEST_MS = 150_000;

let browser: Browser;
let bundle: { js: string; css: string };

// ---- the workspace: what is uploaded (the base), and what the agent does to it ----

const HOSTILE_NAMES = [
  '<img src=x onerror=alert(1)>.md',
  '"><script>alert(1)<!--.js',
  'line\nbreak.txt',
  // shows as "evilexe.txt" if the override reaches the layout engine
  'evil\u202Etxt.exe',
  `${'long-'.repeat(48)}name.txt`,
];
const HOSTILE_LINES = ['<script>alert(1)</script>', '</span><img src=x onerror=alert(2)>', '</td></tr></table><iframe src="javascript:alert(3)"></iframe>'];
const MANY_FILES = MAX_TREE_ENTRIES + 100;

const MAIN_TS = [
  "import { readFile } from 'node:fs/promises';",
  '',
  '/* Reads the settings',
  '   (a comment over two lines) */',
  'export async function settings(path: string): Promise<string> {',
  "  const text = await readFile(path, 'utf8');",
  '  return text.trim();',
  '}',
  ...Array.from({ length: 30 }, (_, i) => `export const limit${i} = ${i * 10}; // limit number ${i}`),
  '',
].join('\n');

const AGENT = `
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
const names = ${JSON.stringify(HOSTILE_NAMES)};
const hostile = ${JSON.stringify(HOSTILE_LINES)};
fs.writeFileSync('src/main.ts', fs.readFileSync('src/main.ts', 'utf8')
  .replace("return text.trim();", "if (!text) throw new Error('empty settings');\\n  return text.trim();")
  .replace('limit15 = 150;', 'limit15 = 1500;') + 'export const added = true;\\n');
fs.appendFileSync('src/page.html', hostile.join('\\n') + '\\n');
for (const name of names) fs.writeFileSync(name, hostile.join('\\n') + '\\n');
fs.rmSync('old.txt');
fs.writeFileSync('logo.png', Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0]), randomBytes(6000)]));
fs.appendFileSync('big.log', 'one more line\\n');
fs.writeFileSync('min.js', 'var a=1;'.repeat(125000));
const csv = fs.readFileSync('data.csv', 'utf8').split('\\n');
for (const i of [10, 25000, 50000, 99990]) csv[i] = csv[i] + ',changed';
fs.writeFileSync('data.csv', csv.join('\\n'));
fs.writeFileSync('random.txt', Array.from({ length: 20000 }, () => randomBytes(12).toString('hex')).join('\\n') + '\\n');
console.log('agent: changes written');
setInterval(() => {}, 1 << 30);
`;

function workspaceZip(): Buffer {
  const entries: RawEntry[] = [
    { name: 'agent.mjs', data: AGENT },
    { name: 'README.md', data: '# Demo\n\nA *workspace* for the files view.\n' },
    { name: 'src/main.ts', data: MAIN_TS },
    { name: 'src/util.py', data: 'def add(a, b):\n    """Adds."""\n    return a + b  # plain\n' },
    { name: 'src/page.html', data: '<!doctype html>\n<p class="x">Hello</p>\n' },
    { name: 'old.txt', data: 'this file is deleted by the agent\n' },
    { name: 'logo.png', data: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0]), randomBytes(4000)]) },
    { name: 'big.log', data: Buffer.alloc(MAX_DIFF_TEXT_BYTES + 512 * 1024, 'log line\n') },
    { name: 'data.csv', data: Array.from({ length: 100_000 }, (_, i) => String(i)).join('\n') + '\n', deflate: true },
    { name: 'random.txt', data: Array.from({ length: 20_000 }, () => randomBytes(12).toString('hex')).join('\n') + '\n', deflate: true },
  ];
  return buildZip(entries);
}

/** An agent that writes MANY_FILES files (more than the tree lists) and waits. */
const MANY_AGENT = `
import fs from 'node:fs';
fs.mkdirSync('zz-many');
for (let i = 0; i < ${MANY_FILES}; i++) fs.writeFileSync('zz-many/file-' + String(i).padStart(5, '0') + '.txt', i + '\\n');
console.log('agent: files written');
setInterval(() => {}, 1 << 30);
`;

// ---- the sessions (each started once for the file) ----

/**
 * A session running `agent` from `zip`, once the agent has printed `marker` (its terminal log is
 * polled, not the tree: a tree walk of 20,000 files costs the runtime seconds).
 */
async function startSession(api: TestApi, agent: string, zip: Buffer, marker: string): Promise<string> {
  const s = await api.client.call(routes.createSession, { body: { cmd: `exec node ${agent}` } });
  const up = await runtimeFetch(s, '/upload?cols=100&rows=30', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(zip) });
  expect(up.status, await up.clone().text()).toBe(200);
  await waitFor(async () => (await sessionLogs(api.client, s.label)).toString('utf8').includes(marker), `the agent of ${s.label} to print ${marker}`, { timeoutMs: 120_000, everyMs: 500 });
  return s.label;
}

let mainSession: Promise<string> | null = null;
let manySession: Promise<string> | null = null;
/** The session of the workspace above, its agent's changes written. */
const session = (api: TestApi) =>
  (mainSession ??= startSession(api, 'agent.mjs', workspaceZip(), 'agent: changes written'));
/** A session whose agent added MANY_FILES files: the tree is cut at MAX_TREE_ENTRIES. */
const crowdedSession = (api: TestApi) =>
  (manySession ??= startSession(api, 'many.mjs', buildZip([{ name: 'many.mjs', data: MANY_AGENT }]), 'agent: files written'));

// ---- the page: the view's bundle on the API's origin, its source the real routes ----

const ENTRY = `
import { renderFiles } from './api/web/page/files/index.ts';
const config = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const headers = { authorization: 'Bearer ' + config.token };
const call = async (url, init) => {
  const res = await fetch(url, init);
  const body = await res.json();
  if (!res.ok) throw new Error(body && body.error ? body.error.message : 'HTTP ' + res.status);
  return body;
};
const base = '/v1/sessions/' + encodeURIComponent(config.ref) + '/files';
window.filesView = renderFiles(document.getElementById('root'), {
  tree: () => call(base, { headers }),
  diff: (path) => call(base + '/diff', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ path }) }),
});
`;

async function bundleView(): Promise<{ js: string; css: string }> {
  const out = await build({ stdin: { contents: ENTRY, resolveDir: process.cwd(), loader: 'js' }, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, write: false, outdir: 'out', logLevel: 'warning' });
  const file = (ext: string) => out.outputFiles.find((f) => f.path.endsWith(ext))!.text;
  return { js: file('.js'), css: `${file('.css')}\nhtml, body, #root { height: 100%; margin: 0; }\n` };
}

interface OpenedView {
  page: Page;
  context: BrowserContext;
  dialogs: string[];
  errors: string[];
}

async function openView(api: TestApi, ref: string, viewport: { width: number; height: number } = DESKTOP): Promise<OpenedView> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.route(`${api.url}${HARNESS}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname.slice(HARNESS.length);
    const headers = { 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff' };
    if (path === '/') {
      const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="stylesheet" href="${HARNESS}/view.css"><script type="module" src="${HARNESS}/view.js"></script></head><body><div id="root"></div></body></html>`;
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', headers, body: html });
    }
    if (path === '/view.js') return route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', headers, body: bundle.js });
    if (path === '/view.css') return route.fulfill({ status: 200, contentType: 'text/css; charset=utf-8', headers, body: bundle.css });
    return route.fulfill({ status: 404, body: '' });
  });
  await page.goto(`${api.url}${HARNESS}/#${encodeURIComponent(JSON.stringify({ ref, token: api.token }))}`);
  // The runtime may take longer than the API waits (10 s) to walk 20,000 files on a busy host:
  // then the view says so, and its Refresh button asks again.
  await waitFor(async () => {
    if (await page.locator('.fv-changed-list, .fv-all .fv-empty').count()) return true;
    if (await page.locator('.fv-side .fv-error').count() && (await page.locator('button.fv-refresh').isEnabled())) await page.click('button.fv-refresh');
    return false;
  }, 'the files view to list the tree', { timeoutMs: 90_000, everyMs: 200 });
  return { page, context, dialogs, errors };
}

/** Clicks `name` in the changed list; resolves with the ms from the click to the file shown. */
async function openChanged(page: Page, name: string): Promise<number> {
  const started = Date.now();
  await page.locator('.fv-changed-list .fv-item').filter({ hasText: name }).first().click();
  await page.waitForSelector('.fv-pane .fv-file, .fv-pane .fv-error');
  return Date.now() - started;
}

async function rendered(page: Page, what: 'tree' | 'diff'): Promise<number> {
  return Number(await page.locator('.fv').getAttribute(`data-${what}-render-ms`));
}

/** Elements a text-only renderer never creates: none inside the view, no image or frame anywhere. */
async function activeElements(page: Page): Promise<number> {
  return page.evaluate(
    () =>
      document.querySelectorAll('.fv :is(img, iframe, svg, object, embed, a, script, style, [onerror], [onload], [href], [src], [style])').length +
      document.querySelectorAll('img, iframe, object, embed').length,
  );
}

beforeAll(async () => {
  [browser, bundle] = await Promise.all([
    launchChromium(),
    bundleView(),
  ]);
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe('the files view against a real session', () => {
  it('the view names the runtime’s text limit as the seam does', () => {
    expect(SENT_TEXT_LIMIT_BYTES).toBe(MAX_DIFF_TEXT_BYTES);
  });

  it('lists the changes first, shows a diff unified and side by side, the tree, and the other kinds of file', { timeout: SESSION_TEST_MS }, async ({ api }) => {
    // case 88's session writes 20,100 files: let it start now, beside this one's
    void crowdedSession(api).catch(() => undefined);
    const label = await session(api);
    const { page, context, errors } = await openView(api, label);

    // the changed list: badges and sizes; the tree said truncated
    const changed = page.locator('.fv-changed-list .fv-item');
    await expect(changed.filter({ hasText: 'src/main.ts' }).locator('.fv-badge').textContent()).resolves.toBe('modified');
    await expect(changed.filter({ hasText: 'old.txt' }).locator('.fv-badge').textContent()).resolves.toBe('deleted');
    await expect(changed.filter({ hasText: 'min.js' }).locator('.fv-badge').textContent()).resolves.toBe('added');
    await expect(changed.filter({ hasText: 'logo.png' }).locator('.fv-meta').textContent()).resolves.toMatch(/KiB$/);
    expect(await page.locator('.fv-truncated').count()).toBe(0);
    await expect(page.locator('.fv-base').textContent()).resolves.toBe('Changes since the upload.');

    // a diff, unified: one line removed, lines added, the unchanged middle folded, TypeScript coloured
    await openChanged(page, 'src/main.ts');
    const table = page.locator('.fv-pane .fv-table-unified');
    expect(await table.locator('tr.fv-del .fv-code').allTextContents()).toEqual(['export const limit15 = 150; // limit number 15']);
    expect(await table.locator('tr.fv-add .fv-code').allTextContents()).toEqual([
      "  if (!text) throw new Error('empty settings');",
      'export const limit15 = 1500; // limit number 15',
      'export const added = true;',
    ]);
    expect(await table.locator('tr.fv-gap').count()).toBeGreaterThan(0);
    expect(await table.locator('.tok-keyword').count()).toBeGreaterThan(0);
    // the comment over two lines is coloured on both (tokens carried across the line break)
    expect(await table.locator('tr', { hasText: '(a comment over two lines)' }).locator('.tok-comment').count()).toBe(1);
    // a folded stretch opens in place
    const before = await table.locator('tr.fv-r').count();
    await table.locator('tr.fv-gap button').first().click();
    expect(await table.locator('tr.fv-r').count()).toBeGreaterThan(before);
    await screenshot(page, 'files-diff');

    // side by side: the base's line left, the current's right
    await page.click('button.fv-mode:has-text("Side by side")');
    const split = page.locator('.fv-pane .fv-table-split');
    const changedRow = split.locator('tr', { hasText: 'limit15 = 1500' });
    await expect(changedRow.locator('td.fv-code').allTextContents()).resolves.toEqual(['export const limit15 = 150; // limit number 15', 'export const limit15 = 1500; // limit number 15']);
    await screenshot(page, 'files-diff-split');
    // narrowed to a phone's width, side by side becomes unified; widened again, it comes back
    await page.setViewportSize(PHONE);
    await waitFor(async () => (await page.locator('.fv-pane .fv-table-unified').count()) === 1, 'the diff to turn unified on a narrow window');
    await page.setViewportSize(DESKTOP);
    await waitFor(async () => (await page.locator('.fv-pane .fv-table-split').count()) === 1, 'the diff to be side by side again');
    await page.click('button.fv-mode:has-text("Unified")');

    // the tree: a directory opens on click; an unchanged file shows its content, highlighted
    await page.locator('.fv-root > li > .fv-dir > .fv-item').filter({ hasText: 'src' }).click();
    await page.locator('.fv-root .fv-tree .fv-item').filter({ hasText: 'util.py' }).click();
    await page.waitForSelector('.fv-pane .fv-badge-unchanged');
    expect(await page.locator('.fv-pane .fv-table-listing .fv-code').allTextContents()).toEqual(['def add(a, b):', '    """Adds."""', '    return a + b  # plain']);
    expect(await page.locator('.fv-pane .tok-keyword').count()).toBeGreaterThan(0);

    // binary, over the limit, deleted
    await openChanged(page, 'logo.png');
    await expect(page.locator('.fv-pane .fv-note').first().textContent()).resolves.toMatch(/^Changed since the upload\. Before: binary, [\d.]+ KiB\. Now: binary, [\d.]+ KiB\.$/);
    await openChanged(page, 'big.log');
    await expect(page.locator('.fv-pane .fv-note').first().textContent()).resolves.toContain('too large to show (the limit is 1.0 MiB)');
    await openChanged(page, 'old.txt');
    await expect(page.locator('.fv-pane tr.fv-del .fv-code').allTextContents()).resolves.toEqual(['this file is deleted by the agent']);

    // refresh keeps the selection and the open directories
    await page.click('button.fv-refresh');
    await page.waitForSelector('.fv-pane .fv-file');
    expect(await page.locator('.fv-item.fv-selected').first().textContent()).toContain('old.txt');
    expect(errors).toEqual([]);
    await context.close();

    // a phone: one column, unified only, the tree and the file take turns
    const phone = await openView(api, label, PHONE);
    await screenshot(phone.page, 'files-tree');
    await openChanged(phone.page, 'src/main.ts');
    expect(await phone.page.locator('.fv-side').isVisible()).toBe(false);
    expect(await phone.page.locator('.fv-pane .fv-table-unified').count()).toBe(1);
    await screenshot(phone.page, 'files-diff');
    await phone.page.click('button.fv-back');
    expect(await phone.page.locator('.fv-side').isVisible()).toBe(true);
    await phone.context.close();
  });

  it('the session’s files page (the app, signed in through a one-time link) shows the view', { timeout: SESSION_TEST_MS }, async ({ api }) => {
    const label = await session(api);
    for (const viewport of [DESKTOP, PHONE]) {
      const context = await browser.newContext({ viewport });
      const page = await signIn(api, context, `/app/s/${label}/files`);
      await page.waitForSelector('.fv-changed-list');
      await page.locator('.fv-changed-list .fv-item').filter({ hasText: 'src/main.ts' }).click();
      await page.waitForSelector('.fv-pane .fv-table');
      expect(await page.locator('.fv-pane tr.fv-add .fv-code').allTextContents()).toContain('export const added = true;');
      expect(await activeElements(page)).toBe(0);
      await screenshot(page, 'files-page');
      await context.close();
    }
  });

  it('86: hostile file names render as text, invisible characters as badges', { timeout: SESSION_TEST_MS }, async ({ api }) => {
    const label = await session(api);
    const { page, context, dialogs, errors } = await openView(api, label);
    const names = await page.locator('.fv-changed-list .fv-name').allTextContents();
    // as written, but for the invisible characters shown as badges
    expect(names).toContain('<img src=x onerror=alert(1)>.md');
    expect(names).toContain('"><script>alert(1)<!--.js');
    expect(names).toContain('lineU+000Abreak.txt');
    expect(names).toContain('evilU+202Etxt.exe');
    expect(names).toContain(HOSTILE_NAMES[4]);
    // no U+202E reaches the layout: the text nodes of the lists hold none
    expect(await page.evaluate(() => document.querySelector('.fv-side')!.textContent!.includes('\u202E'))).toBe(false);
    await page.locator('.fv-changed-list .fv-item').filter({ hasText: 'evilU+202Etxt.exe' }).click();
    await page.waitForSelector('.fv-pane .fv-file');
    await expect(page.locator('.fv-pane .fv-file-name').textContent()).resolves.toBe('evilU+202Etxt.exe');
    expect(await activeElements(page)).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('87: hostile text in a diff renders as text', { timeout: SESSION_TEST_MS }, async ({ api }) => {
    const label = await session(api);
    const { page, context, dialogs, errors } = await openView(api, label);
    for (const name of ['<img src=x onerror=alert(1)>.md', '"><script>alert(1)<!--.js', 'src/page.html']) {
      await page.locator('.fv-changed-list .fv-item').filter({ hasText: name }).first().click();
      await page.waitForSelector('.fv-pane .fv-file');
      await expect(page.locator('.fv-pane .fv-file-name').textContent()).resolves.toBe(name);
      expect(await page.locator('.fv-pane tr.fv-add .fv-code').allTextContents()).toEqual(HOSTILE_LINES);
    }
    // highlighted as markup (tokens), and still only text
    expect(await page.locator('.fv-pane .tok-tag').count()).toBeGreaterThan(0);
    expect(await activeElements(page)).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await screenshot(page, 'files-hostile');
    await context.close();
  });

  it('88: pathological inputs stay bounded: 20k entries, 100k lines, a 1 MB line, texts too different to diff', { timeout: 2 * SESSION_TEST_MS }, async ({ api }) => {
    const [crowded, label] = await Promise.all([crowdedSession(api), session(api)]);
    const many = await openView(api, crowded);
    const treeMs = await rendered(many.page, 'tree');
    await expect(many.page.locator('.fv-truncated').textContent()).resolves.toBe(`The workspace has more entries than are listed here: ${MAX_TREE_ENTRIES.toLocaleString('en')} shown (changed files first), the rest left out.`);
    // 20,000 changed files: the first LIST_CHUNK listed, the rest behind "show more"
    expect(await many.page.locator('.fv-changed-list > li:not(.fv-more)').count()).toBe(LIST_CHUNK);
    await expect(many.page.locator('.fv-changed-list > li.fv-more').textContent()).resolves.toBe(`Show ${LIST_CHUNK} more (${(MAX_TREE_ENTRIES - LIST_CHUNK).toLocaleString('en')} left)`);
    // the directory opens with its first LIST_CHUNK entries
    const started = Date.now();
    await many.page.locator('.fv-root > li > .fv-dir > .fv-item').filter({ hasText: 'zz-many' }).click();
    await many.page.waitForSelector('.fv-root .fv-tree .fv-more');
    const expandMs = Date.now() - started;
    expect(await many.page.locator('.fv-root .fv-tree').last().locator(':scope > li:not(.fv-more)').count()).toBe(LIST_CHUNK);
    expect(await many.page.evaluate(() => document.querySelectorAll('.fv-item').length)).toBeLessThan(LIST_CHUNK * 2 + 10);
    await screenshot(many.page, 'files-crowded');
    await many.context.close();

    const { page, context, errors } = await openView(api, label);
    // 100k lines, four changed: four hunks, a few dozen rows
    const csvMs = await openChanged(page, 'data.csv');
    const csvRender = await rendered(page, 'diff');
    expect(await page.locator('.fv-pane tr.fv-add').count()).toBe(4);
    expect(await page.locator('.fv-pane tr.fv-r').count()).toBeLessThan(60);

    // two unrelated 20k-line texts: the diff gives up and both sides are listed, ROW_CHUNK rows each
    const randomMs = await openChanged(page, 'random.txt');
    const randomRender = await rendered(page, 'diff');
    await expect(page.locator('.fv-pane .fv-note').first().textContent()).resolves.toMatch(/^Too different to diff/);
    expect(await page.locator('.fv-pane .fv-table-listing').count()).toBe(2);
    expect(await page.locator('.fv-pane tr.fv-r').count()).toBe(2 * ROW_CHUNK);
    await page.locator('.fv-pane tr.fv-more button').first().click();
    expect(await page.locator('.fv-pane tr.fv-r').count()).toBe(3 * ROW_CHUNK);

    // a 1 MB line: cut, and said so
    const minMs = await openChanged(page, 'min.js');
    const cell = await page.locator('.fv-pane tr.fv-add .fv-code').textContent();
    expect(cell!.length).toBeLessThan(MAX_LINE_CHARS + 100);
    expect(cell).toContain(`${(1_000_000 - MAX_LINE_CHARS).toLocaleString('en')} more characters on this line`);

    // the page still answers at once
    const t0 = Date.now();
    await page.evaluate(() => 1);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(errors).toEqual([]);
    console.log(`files view timings: tree of ${MAX_TREE_ENTRIES} entries rendered in ${treeMs} ms; zz-many opened in ${expandMs} ms; data.csv (100k lines) ${csvMs} ms click-to-shown (${csvRender} ms in the view); random.txt ${randomMs} ms (${randomRender} ms); min.js ${minMs} ms`);
    await context.close();
  });
});
