/**
 * The browser view's tests (tests/browser/): headless Chromium through playwright-core against
 * the built catty-api, with real sessions running fixture agents.
 *
 * - `startBrowserApi()`: a catty-api whose public URL is its own address (the browser's
 *   WebSocket must come from that origin, and connectUrl then points at the API's relay);
 * - `launchChromium()`: the system's Chromium, a fresh profile per launch;
 * - `signIn(api, context)`: the one-time link `catty open` mints (webLink with the CLI's token),
 *   followed by the browser: the cookie is set and the page opens;
 * - `fixtureSession(api, agent)`: a session whose agent is a fixture from tests/fixtures/agents,
 *   uploaded through the relay as the CLI would;
 * - `terminalText(page)`: what xterm shows (its DOM renderer's rows);
 * - `screenshot(page, name)`: tests/artifacts/screenshots/<name>-<width>.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { routes } from '../../api/contract/routes.js';
import type { CreatedSession } from '../../api/contract/schemas.js';
import { startTestApi, type StartTestApiOptions, type TestApi } from './api.js';
import { freeLoopbackPort } from './loopback.js';
import { FIXTURE_AGENTS, REPO_ROOT } from './paths.js';
import { buildZip, type RawEntry } from './runtime-zip.js';
import { waitFor } from './wait.js';

export const DESKTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 390, height: 844 } as const;
export const SCREENSHOTS = join(REPO_ROOT, 'tests', 'artifacts', 'screenshots');
export const ARTIFACTS = join(REPO_ROOT, 'tests', 'artifacts');

export async function startBrowserApi(options: StartTestApiOptions = {}): Promise<TestApi> {
  const port = await freeLoopbackPort();
  return startTestApi({ ...options, env: { CATTY_API_LISTEN: `127.0.0.1:${port}`, CATTY_PUBLIC_URL: `http://127.0.0.1:${port}`, ...options.env } });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // no user-data-dir: playwright gives each launch a fresh temporary profile
  });
}

/** Signs `context` in through a one-time link and opens `next` (default the sessions page). */
export async function signIn(api: TestApi, context: BrowserContext, next = '/app/'): Promise<Page> {
  const link = await api.client.call(routes.webLink, { body: { next } });
  const page = await context.newPage();
  await page.goto(link.url);
  await page.waitForURL((url) => url.pathname === next);
  return page;
}

export interface FixtureSessionOptions {
  args?: string[];
  /** More files for the workspace. */
  extra?: RawEntry[];
  /** The file `node` runs, when it is one of `extra` (default: the agent). */
  run?: string;
  /** Secrets for the agent's environment. */
  secrets?: Record<string, string>;
}

/** A session running `node <agent> <args>` from the fixture agents, uploaded through the relay. */
export async function fixtureSession(api: TestApi, agent: string, options: FixtureSessionOptions = {}): Promise<CreatedSession> {
  const cmd = `exec node ${options.run ?? agent} ${(options.args ?? []).join(' ')}`.trim();
  const session = await api.client.call(routes.createSession, { body: { cmd, secrets: options.secrets } });
  const zip = buildZip([{ name: agent, data: readFileSync(join(FIXTURE_AGENTS, agent)) }, ...(options.extra ?? [])]);
  const res = await fetch(`${session.connectUrl}/upload?cols=100&rows=30`, {
    method: 'POST',
    headers: { authorization: `Bearer ${session.connectToken}`, 'content-type': 'application/zip' },
    body: new Uint8Array(zip),
  });
  if (res.status !== 200) throw new Error(`upload to ${session.label}: ${res.status} ${await res.text()}`);
  return session;
}

/** The terminal's visible rows, one line each, trailing spaces trimmed. */
export function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => Array.from(document.querySelectorAll('.xterm-rows > div')).map((row) => (row.textContent ?? '').trimEnd()).join('\n'));
}

/** Waits until the terminal shows `needle`. */
export function waitForTerminal(page: Page, needle: string, timeoutMs = 15_000): Promise<string> {
  let last = '';
  return waitFor(
    async () => {
      last = await terminalText(page);
      return last.includes(needle) ? last : null;
    },
    () => `the terminal to show ${JSON.stringify(needle)} (it shows ${JSON.stringify(last.replace(/\n+/g, '⏎').slice(-300))})`,
    { timeoutMs, everyMs: 25 },
  );
}

/** Saves a full-page screenshot as tests/artifacts/screenshots/<name>-<width>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const width = page.viewportSize()?.width ?? 0;
  const path = join(SCREENSHOTS, `${name}-${width}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
