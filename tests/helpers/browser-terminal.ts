/**
 * A browser as the API's relay sees it (issue 24), without a browser: the /device page's sign-in
 * (its cookie, the CSRF token from webMe, webLogout), a session running the echo agent, and a
 * `ws` WebSocket that sends what a page's would (cookie + Origin, or the share subprotocols) and
 * records what comes back. For the relay's tests; the page's own tests drive Chromium.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CSRF_HEADER, fillPath, routes, SHARE_CONNECT_PATH, SHARE_SUBPROTOCOL, WEB_CONNECT_PATH, WEB_COOKIE } from '../../api/contract/routes.js';
import type { ApiClient } from '../../api/contract/client.js';
import { FIXTURE_AGENTS } from './paths.js';
import { runtimeFetch } from './runtime.js';
import { buildZip } from './runtime-zip.js';
import { onCleanup } from './cleanup.js';
import { waitFor } from './wait.js';

export interface BrowserSignIn {
  /** The Cookie header a browser sends: `catty_web=<token>`. */
  cookie: string;
  csrf: string;
}

/** Signs a browser in through the /device page's form, as a person would. */
export async function browserSignIn(base: string, email: string, password: string): Promise<BrowserSignIn> {
  const page = await fetch(`${base}/device`);
  const loginCookies = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const formCsrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  const res = await fetch(`${base}/device/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: loginCookies, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email, password, csrf: formCsrf, code: '' }).toString(),
  });
  const web = res.headers.getSetCookie().find((c) => c.startsWith(`${WEB_COOKIE}=`) && !/max-age=0/i.test(c));
  if (res.status !== 303 || !web) throw new Error(`the /device sign-in answered ${res.status} without a ${WEB_COOKIE} cookie`);
  const cookie = web.split(';')[0]!;
  const me = await fetch(`${base}${routes.webMe.path}`, { headers: { cookie } });
  if (!me.ok) throw new Error(`webMe answered ${me.status}`);
  return { cookie, csrf: ((await me.json()) as { csrf: string }).csrf };
}

/** The page's "sign out". */
export async function browserLogout(base: string, signIn: BrowserSignIn): Promise<void> {
  const res = await fetch(`${base}${routes.webLogout.path}`, { method: 'POST', headers: { cookie: signIn.cookie, [CSRF_HEADER]: signIn.csrf } });
  if (!res.ok) throw new Error(`webLogout answered ${res.status}`);
}

/** A running session whose agent is tests/fixtures/agents/echo.mjs (READY, then echoes; prints
 * `RESIZED <c>x<r>` on a resize). Its runtime is reached directly (no public URL configured). */
export async function echoSession(client: ApiClient): Promise<{ id: string; label: string; connectUrl: string; socketPath?: string; connectToken: string }> {
  const s = await client.call(routes.createSession, { body: { cmd: 'exec node echo.mjs' } });
  const zip = buildZip([{ name: 'echo.mjs', data: readFileSync(join(FIXTURE_AGENTS, 'echo.mjs')) }]);
  const res = await runtimeFetch(s, '/upload?cols=80&rows=24', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: zip });
  if (res.status !== 200) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return s;
}

export interface TerminalOptions {
  cookie?: string;
  /** The Origin header; absent: none is sent. */
  origin?: string;
  /** Subprotocols offered (a share link's page offers `catty-share` and `catty-share.<token>`). */
  protocols?: string[];
  query?: Record<string, string | number>;
}

/** The subprotocols a share link's page offers. */
export const shareProtocols = (token: string): string[] => [SHARE_SUBPROTOCOL, `${SHARE_SUBPROTOCOL}.${token}`];
/** The token of a share link's URL (`…/app/share#<token>`). */
export const shareTokenOfUrl = (url: string): string => new URL(url).hash.slice(1);

export const ownerTerminalUrl = (base: string, ref: string): string => `${base.replace(/^http/, 'ws')}${fillPath(WEB_CONNECT_PATH, { ref })}`;
export const shareTerminalUrl = (base: string): string => `${base.replace(/^http/, 'ws')}${SHARE_CONNECT_PATH}`;

/** One browser terminal's WebSocket: output bytes, JSON messages, the close or the refusal. */
export class BrowserTerminal {
  readonly ws: WebSocket;
  readonly chunks: Buffer[] = [];
  readonly messages: Array<{ type: string } & Record<string, unknown>> = [];
  closeCode: number | null = null;
  closeReason = '';
  closedAt = 0;
  rejectedStatus: number | null = null;
  rejectedBody = '';
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(url: string, options: TerminalOptions = {}) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(options.query ?? {})) params.set(k, String(v));
    const headers: Record<string, string> = {};
    if (options.cookie) headers.cookie = options.cookie;
    if (options.origin) headers.origin = options.origin;
    this.ws = new WebSocket(`${url}${params.size ? `?${params}` : ''}`, options.protocols ?? [], { headers, maxPayload: 64 * 1024 * 1024 });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        this.rejectedStatus = res.statusCode ?? 0;
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          this.rejectedBody = body;
          reject(new Error(`upgrade refused: ${res.statusCode} ${body}`));
        });
      });
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) this.chunks.push(data);
      else this.messages.push(JSON.parse(data.toString()) as { type: string });
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.closedAt = Date.now();
        resolve(code);
      }),
    );
    onCleanup(() => this.ws.terminate());
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  ofType(type: string): Array<Record<string, unknown>> {
    return this.messages.filter((m) => m.type === type);
  }
  send(data: string | Buffer): void {
    this.ws.send(data, { binary: typeof data !== 'string' });
  }
  waitForText(needle: string, timeoutMs = 15_000): Promise<true> {
    return waitFor(() => this.text().includes(needle), () => `output containing ${JSON.stringify(needle)} (got ${JSON.stringify(this.text().slice(-200))})`, { timeoutMs, everyMs: 10 });
  }
  waitForMessage(type: string, match: (m: Record<string, unknown>) => boolean = () => true, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return waitFor(() => this.ofType(type).find(match), () => `a ${type} message (got ${JSON.stringify(this.messages.slice(-5))})`, { timeoutMs, everyMs: 10 });
  }
  /** A ping answered: the API has read every frame sent before it. */
  roundTrip(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once('pong', () => resolve());
      this.ws.ping();
    });
  }
  /** Resolves with the HTTP status the upgrade was refused with (throws if it was accepted). */
  async refusal(): Promise<number> {
    try {
      await this.opened;
    } catch {
      await waitFor(() => this.rejectedStatus, 'the refusal');
      return this.rejectedStatus!;
    }
    throw new Error('the upgrade was accepted');
  }
}
