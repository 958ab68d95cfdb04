/**
 * Cases 78–81 (issue 24): the API's relay for browsers. The built catty-api with real sessions
 * (the echo agent), browsers signed in through the /device page, share links minted by the API;
 * the relay's own frame filter also on its own, in pairSockets between real sockets, with a
 * runtime that records every frame (the runtime's rules must not be what holds it).
 */
import http from 'node:http';
import { describe, expect } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { mintShareLink } from '../../api/auth/web.js';
import { routes, SHARE_SUBPROTOCOL } from '../../api/contract/routes.js';
import { ownerBrowserFrame, shareBrowserFrame } from '../../api/relay/browser-frames.js';
import { CHECK_EVERY_MS, MAX_SOCKETS_PER_GRANT } from '../../api/relay/grants.js';
import { pairSockets, type RelayPair } from '../../api/relay/ws-relay.js';
import { userByEmail } from '../../api/state/users.js';
import { CloseCode } from '../../session-runtime/wire/protocol.js';
import { BrowserTerminal, browserLogout, browserSignIn, echoSession, ownerTerminalUrl, shareProtocols, shareTerminalUrl, shareTokenOfUrl } from '../helpers/browser-terminal.js';
import { onCleanup } from '../helpers/cleanup.js';
import { testWithApi } from '../helpers/fixtures.js';
import { closeServer, listenLoopback } from '../helpers/loopback.js';
import { waitFor } from '../helpers/wait.js';

const it = testWithApi();

/** How long an ended grant may keep its socket: one check period, and the close itself. */
const GRANT_BOUND_MS = CHECK_EVERY_MS + 2_000;

describe('78: a browser terminal opens only with its own grant (cookie from the API’s own Origin, or a share link)', () => {
  it('78: a cookie-authenticated WebSocket from another origin, or with no Origin, is refused even with a valid cookie', async ({ api }) => {
    const s = await echoSession(api.client);
    const { cookie } = await browserSignIn(api.url, api.email, api.password);
    const url = ownerTerminalUrl(api.url, s.id);
    for (const origin of ['http://evil.example', api.url.replace('127.0.0.1', 'localhost'), `${api.url}.evil.example`, 'null', undefined]) {
      const tab = new BrowserTerminal(url, { cookie, ...(origin ? { origin } : {}) });
      expect(await tab.refusal(), `Origin ${origin}`).toBe(403);
    }
    // The same cookie from the API's own origin opens it.
    const own = new BrowserTerminal(url, { cookie, origin: api.url });
    await own.opened;
  });

  it('78: no cookie, a made-up cookie, or another user’s session: refused', async ({ api }) => {
    const mine = await echoSession(api.client);
    const other = await api.addUser('relay-other@example.com');
    const theirs = await echoSession(other);
    const { cookie } = await browserSignIn(api.url, api.email, api.password);
    expect(await new BrowserTerminal(ownerTerminalUrl(api.url, mine.id), { origin: api.url }).refusal()).toBe(401);
    expect(await new BrowserTerminal(ownerTerminalUrl(api.url, mine.id), { origin: api.url, cookie: 'catty_web=made-up' }).refusal()).toBe(401);
    // Another user's session, by id or label, is not found (as on every owner route).
    expect(await new BrowserTerminal(ownerTerminalUrl(api.url, theirs.id), { origin: api.url, cookie }).refusal()).toBe(404);
    expect(await new BrowserTerminal(ownerTerminalUrl(api.url, theirs.label), { origin: api.url, cookie }).refusal()).toBe(404);
    // An access token is no cookie: the browser paths do not take it.
    const bearer = new WebSocket(ownerTerminalUrl(api.url, mine.id), { headers: { authorization: `Bearer ${api.token}`, origin: api.url } });
    bearer.on('error', () => undefined);
    expect(await new Promise((r) => bearer.once('unexpected-response', (_q, res) => r(res.statusCode)))).toBe(401);
  });

  it('78: a share link opens its own session only, and nothing but its token opens the share path', async ({ api }) => {
    const a = await echoSession(api.client);
    const b = await echoSession(api.client);
    const linkA = await api.client.call(routes.createShare, { params: { ref: a.id }, body: {} });
    const tokenA = shareTokenOfUrl(linkA.url);
    // The share path names no session: A's token shows A, whatever the query says.
    const tab = new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(tokenA), query: { offset: 0, ref: b.id, session: b.id } });
    await tab.opened;
    expect(tab.ws.protocol).toBe(SHARE_SUBPROTOCOL);
    await tab.waitForText('READY');
    // B's agent, typed into from B's own runtime, never shows in A's share.
    const bOwner = new BrowserTerminal(ownerTerminalUrl(api.url, b.id), { ...(await browserSignIn(api.url, api.email, api.password)), origin: api.url, query: { offset: 0 } });
    await bOwner.opened;
    bOwner.send(JSON.stringify({ type: 'take_control' }));
    await bOwner.waitForMessage('control', (m) => m.controlling === true);
    bOwner.send(Buffer.from('ONLY-IN-B'));
    await bOwner.waitForText('ONLY-IN-B');
    await tab.roundTrip();
    expect(tab.text()).not.toContain('ONLY-IN-B');
    // A share token on the owner's path is nothing; a signed-in cookie on the share path is no token.
    const { cookie } = await browserSignIn(api.url, api.email, api.password);
    expect(await new BrowserTerminal(ownerTerminalUrl(api.url, a.id), { protocols: shareProtocols(tokenA), origin: api.url }).refusal()).toBe(401);
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { cookie, origin: api.url }).refusal()).toBe(401);
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { cookie, origin: api.url, protocols: [SHARE_SUBPROTOCOL] }).refusal()).toBe(401);
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols('not-a-token') }).refusal()).toBe(401);
    // Two tokens offered at once: ambiguous, refused.
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { protocols: [...shareProtocols(tokenA), `${SHARE_SUBPROTOCOL}.other`] }).refusal()).toBe(401);
  });

  it('78: a session that is not running opens no terminal (409)', async ({ api }) => {
    const s = await echoSession(api.client);
    const link = await api.client.call(routes.createShare, { params: { ref: s.id }, body: {} });
    const { cookie } = await browserSignIn(api.url, api.email, api.password);
    await api.client.call(routes.stop, { params: { ref: s.id } });
    await waitFor(async () => (await api.client.call(routes.getSession, { params: { ref: s.id } })).status !== 'running', 'the session to stop');
    expect(await new BrowserTerminal(ownerTerminalUrl(api.url, s.id), { cookie, origin: api.url }).refusal()).toBe(409);
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(shareTokenOfUrl(link.url)) }).refusal()).toBe(409);
  });
});

/** A client ↔ pairSockets ↔ a runtime that records every frame it gets. */
async function filteredPair(acceptFromClient: (data: Buffer, isBinary: boolean) => boolean) {
  const runtimeServer = http.createServer();
  const runtime = new WebSocketServer({ server: runtimeServer });
  const got: Array<{ data: string; binary: boolean }> = [];
  let runtimeSide: WebSocket | null = null;
  runtime.on('connection', (ws) => {
    runtimeSide = ws;
    ws.on('message', (d: Buffer, binary) => got.push({ data: d.toString(), binary }));
  });
  const runtimeUrl = (await listenLoopback(runtimeServer)).url.replace(/^http/, 'ws');
  const wss = new WebSocketServer({ noServer: true });
  const relay = http.createServer();
  let pair: RelayPair | null = null;
  relay.on('upgrade', (req, socket, head) => {
    const upstream = new WebSocket(runtimeUrl);
    upstream.once('open', () => wss.handleUpgrade(req, socket, head, (down) => (pair = pairSockets(down, upstream, { acceptFromClient }))));
  });
  const client = new WebSocket((await listenLoopback(relay)).url.replace(/^http/, 'ws'));
  await new Promise((r) => client.once('open', r));
  await waitFor(() => pair && runtimeSide, 'the pair');
  onCleanup(async () => {
    client.terminate();
    for (const ws of runtime.clients) ws.terminate();
    await closeServer(relay);
    await new Promise((r) => runtime.close(r));
    await closeServer(runtimeServer);
  });
  const pingPong = (ws: WebSocket) => new Promise<void>((r) => (ws.once('pong', () => r()), ws.ping()));
  return {
    client,
    got,
    /** Every frame the client sent so far was read by the relay (its pong came after them), and
     * everything the relay forwarded was read by the runtime (the relay's pong came after that). */
    flush: async () => {
      await pingPong(client);
      await pingPong(runtimeSide!);
    },
  };
}

const EVERY_KIND = [
  { data: Buffer.from('keystrokes'), binary: true },
  { data: '{"type":"resize","cols":90,"rows":30}', binary: false },
  { data: '{"type":"take_control"}', binary: false },
  { data: '{"type":"sync_back","enabled":true}', binary: false },
  { data: '{"type":"git_home","enabled":true}', binary: false },
  { data: 'not json', binary: false },
  { data: '{"type":"resize","cols":90,"rows":30,"extra":1}', binary: false },
] as const;

describe('79: browsers are watch-only in the relay itself (share links entirely; the owner’s browser is never a CLI)', () => {
  it('79: the relay alone: a share’s frames never reach the runtime; the owner’s keystrokes, resize and take_control do, sync_back, git_home and invalid JSON do not', async () => {
    const share = await filteredPair(shareBrowserFrame);
    const owner = await filteredPair(ownerBrowserFrame);
    for (const { client } of [share, owner]) for (const frame of EVERY_KIND) client.send(frame.data, { binary: frame.binary });
    await share.flush();
    await owner.flush();
    expect(share.got).toEqual([]);
    expect(owner.got).toEqual([
      { data: 'keystrokes', binary: true },
      { data: '{"type":"resize","cols":90,"rows":30}', binary: false },
      { data: '{"type":"take_control"}', binary: false },
    ]);
  });

  it('79: end to end, a share link’s keystrokes, resize and take_control never reach the agent (tests/integration/relay-browser.test.ts has the long form)', async ({ api }) => {
    const s = await echoSession(api.client);
    const link = await api.client.call(routes.createShare, { params: { ref: s.id }, body: {} });
    const tab = new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(shareTokenOfUrl(link.url)), query: { offset: 0 } });
    await tab.waitForText('READY');
    tab.send(JSON.stringify({ type: 'take_control' }));
    tab.send(Buffer.from('SHARE-INPUT'));
    await tab.roundTrip();
    const owner = new BrowserTerminal(ownerTerminalUrl(api.url, s.id), { ...(await browserSignIn(api.url, api.email, api.password)), origin: api.url, query: { offset: 0 } });
    await owner.opened;
    owner.send(JSON.stringify({ type: 'take_control' }));
    await owner.waitForMessage('control', (m) => m.controlling === true);
    owner.send(Buffer.from('OWNER-INPUT'));
    await owner.waitForText('OWNER-INPUT');
    expect(owner.text()).not.toContain('SHARE-INPUT');
    await tab.waitForText('OWNER-INPUT');
    expect(tab.text()).not.toContain('SHARE-INPUT');
  });
});

describe('80: a grant that ends closes the sockets it opened (4003), and opens no more', () => {
  it('80: a revoked share link’s open terminal is closed within the bound; a new one is refused', async ({ api }) => {
    const s = await echoSession(api.client);
    const link = await api.client.call(routes.createShare, { params: { ref: s.id }, body: {} });
    const protocols = shareProtocols(shareTokenOfUrl(link.url));
    const tabs = [new BrowserTerminal(shareTerminalUrl(api.url), { protocols }), new BrowserTerminal(shareTerminalUrl(api.url), { protocols })];
    await Promise.all(tabs.map((t) => t.opened));
    const revokedAt = Date.now();
    expect((await api.client.call(routes.revokeShares, { params: { ref: s.id } })).revoked).toBe(1);
    for (const tab of tabs) {
      expect(await tab.closed).toBe(CloseCode.accessEnded);
      expect(tab.closedAt - revokedAt).toBeLessThan(GRANT_BOUND_MS);
    }
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { protocols }).refusal()).toBe(401);
  });

  it('80: an expired share link’s terminal is closed at its expiry; a new one is refused', async ({ api }) => {
    const s = await echoSession(api.client);
    const db = await api.openDb();
    onCleanup(() => db.close());
    const user = await userByEmail(db, api.email);
    // The API's own minting, with a clock 57.5 s behind: a 60 s link (the shortest) with 2.5 s left.
    const link = await mintShareLink({ db, now: () => Date.now() - 57_500, publicUrl: () => api.url }, s.id, user!.id, 60);
    const expiresAt = Date.parse(link.expiresAt);
    const tab = new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(shareTokenOfUrl(link.url)) });
    await tab.opened;
    expect(await tab.closed).toBe(CloseCode.accessEnded);
    // By its timer: at the expiry, not at the next check.
    expect(tab.closedAt).toBeGreaterThanOrEqual(expiresAt - 50);
    expect(tab.closedAt - expiresAt).toBeLessThan(1_500);
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(shareTokenOfUrl(link.url)) }).refusal()).toBe(401);
  });

  it('80: signing out closes that browser’s terminals within the bound; the cookie opens no more', async ({ api }) => {
    const s = await echoSession(api.client);
    const signIn = await browserSignIn(api.url, api.email, api.password);
    const other = await browserSignIn(api.url, api.email, api.password);
    const tab = new BrowserTerminal(ownerTerminalUrl(api.url, s.id), { cookie: signIn.cookie, origin: api.url });
    const otherTab = new BrowserTerminal(ownerTerminalUrl(api.url, s.id), { cookie: other.cookie, origin: api.url });
    await Promise.all([tab.opened, otherTab.opened]);
    const loggedOutAt = Date.now();
    await browserLogout(api.url, signIn);
    expect(await tab.closed).toBe(CloseCode.accessEnded);
    expect(tab.closedAt - loggedOutAt).toBeLessThan(GRANT_BOUND_MS);
    expect(await new BrowserTerminal(ownerTerminalUrl(api.url, s.id), { cookie: signIn.cookie, origin: api.url }).refusal()).toBe(401);
    // Another sign-in of the same user keeps its terminal.
    await otherTab.roundTrip();
    expect(otherTab.closeCode).toBeNull();
  });
});

describe('81: one grant opens a bounded number of terminals', () => {
  it(`81: a share link holds at most ${MAX_SOCKETS_PER_GRANT} sockets (429 past it), and a closed one frees its place`, async ({ api }) => {
    const s = await echoSession(api.client);
    const link = await api.client.call(routes.createShare, { params: { ref: s.id }, body: {} });
    const protocols = shareProtocols(shareTokenOfUrl(link.url));
    const open = Array.from({ length: MAX_SOCKETS_PER_GRANT }, () => new BrowserTerminal(shareTerminalUrl(api.url), { protocols }));
    await Promise.all(open.map((t) => t.opened));
    expect(await new BrowserTerminal(shareTerminalUrl(api.url), { protocols }).refusal()).toBe(429);
    // Another link to the same session has its own count.
    const second = await api.client.call(routes.createShare, { params: { ref: s.id }, body: {} });
    await new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(shareTokenOfUrl(second.url)) }).opened;
    open[0]!.ws.close();
    await open[0]!.closed;
    await waitFor(async () => {
      const again = new BrowserTerminal(shareTerminalUrl(api.url), { protocols });
      return again.opened.then(() => true, () => false);
    }, 'a place freed by the closed socket');
  });

  it(`81: so does a web session (a burst of ${MAX_SOCKETS_PER_GRANT + 4} at once: ${MAX_SOCKETS_PER_GRANT} open)`, async ({ api }) => {
    const s = await echoSession(api.client);
    const { cookie } = await browserSignIn(api.url, api.email, api.password);
    const burst = Array.from({ length: MAX_SOCKETS_PER_GRANT + 4 }, () => new BrowserTerminal(ownerTerminalUrl(api.url, s.id), { cookie, origin: api.url }));
    const outcomes = await Promise.all(burst.map((t) => t.opened.then(() => 101, () => waitFor(() => t.rejectedStatus, 'the refusal'))));
    expect(outcomes.filter((o) => o === 101)).toHaveLength(MAX_SOCKETS_PER_GRANT);
    expect(outcomes.filter((o) => o === 429)).toHaveLength(4);
  });
});
