/**
 * The API's relay for browsers (issue 24) end to end: the built catty-api, real sessions running
 * the echo agent, a browser signed in through the /device page, share links minted by the API,
 * and `ws` sockets sending what the page sends. The owner's browser watches, takes control and
 * types; a share link's only watches. Refusals and grants: tests/security/relay-browser.test.ts.
 */
import { describe, expect } from 'vitest';
import { routes, SHARE_SUBPROTOCOL } from '../../api/contract/routes.js';
import { BrowserTerminal, browserSignIn, echoSession, ownerTerminalUrl, shareProtocols, shareTerminalUrl, shareTokenOfUrl } from '../helpers/browser-terminal.js';
import { testWithApi } from '../helpers/fixtures.js';
import { sessionWs, TestClient } from '../helpers/runtime.js';

const it = testWithApi();

describe('the owner’s browser', () => {
  it('sees the output, takes control, types and resizes', async ({ api }) => {
    const s = await echoSession(api.client);
    const signIn = await browserSignIn(api.url, api.email, api.password);
    // By label, as the page's URL names it.
    const tab = new BrowserTerminal(ownerTerminalUrl(api.url, s.label), { cookie: signIn.cookie, origin: api.url, query: { offset: 0, cols: 90, rows: 20 } });
    await tab.opened;
    expect(tab.ws.protocol).toBe('');
    await tab.waitForMessage('hello');
    await tab.waitForText('READY');
    tab.send(JSON.stringify({ type: 'take_control' }));
    await tab.waitForMessage('control', (m) => m.controlling === true);
    tab.send(Buffer.from('typed-in-the-browser'));
    await tab.waitForText('typed-in-the-browser');
    tab.send(JSON.stringify({ type: 'resize', cols: 101, rows: 31 }));
    await tab.waitForText('RESIZED 101x31');
    await tab.ws.close();
    await tab.closed;
  });

  it('a terminal query the API cannot read is refused before anything is relayed', async ({ api }) => {
    const s = await echoSession(api.client);
    const signIn = await browserSignIn(api.url, api.email, api.password);
    for (const query of [{ cols: 'abc' }, { rows: 0 }, { offset: -1 }, { cols: 1001 }] as Array<Record<string, string | number>>) {
      const tab = new BrowserTerminal(ownerTerminalUrl(api.url, s.id), { cookie: signIn.cookie, origin: api.url, query });
      expect(await tab.refusal()).toBe(400);
    }
  });

  it('a plain GET of a terminal path is told to upgrade', async ({ api }) => {
    const res = await fetch(`${api.url}/v1/share/connect`);
    expect(res.status).toBe(426);
  });
});

describe('a share link’s browser', () => {
  it('is answered with the catty-share subprotocol and sees the output', async ({ api }) => {
    const s = await echoSession(api.client);
    const link = await api.client.call(routes.createShare, { params: { ref: s.label }, body: { ttlSec: 600 } });
    const tab = new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(shareTokenOfUrl(link.url)), query: { offset: 0 } });
    await tab.opened;
    expect(tab.ws.protocol).toBe(SHARE_SUBPROTOCOL);
    await tab.waitForText('READY');
  });

  it('never reaches the agent: keystrokes, resize, take_control and sync_back are dropped', async ({ api }) => {
    const s = await echoSession(api.client);
    const link = await api.client.call(routes.createShare, { params: { ref: s.id }, body: {} });
    // The browser's own query asks to be a CLI that may type: the API writes the runtime's query.
    const tab = new BrowserTerminal(shareTerminalUrl(api.url), { protocols: shareProtocols(shareTokenOfUrl(link.url)), query: { offset: 0, client: 'cli', readonly: 0 } });
    await tab.waitForText('READY');
    tab.send(JSON.stringify({ type: 'take_control' }));
    tab.send(Buffer.from('SHARE-KEYSTROKE\r'));
    tab.send(JSON.stringify({ type: 'resize', cols: 77, rows: 22 }));
    tab.send(JSON.stringify({ type: 'sync_back', enabled: true }));
    tab.send('SHARE-TEXT-FRAME');
    // The API has read (and dropped or forwarded) all of them before the pong.
    await tab.roundTrip();
    // Then the laptop attaches and types: its echo lands after anything the share's frames did.
    const cli = new TestClient(sessionWs(s), { offset: 0 });
    await cli.opened;
    cli.send(Buffer.from('LAPTOP-MARK'));
    await cli.waitForText('LAPTOP-MARK');
    const seen = cli.text();
    expect(seen).toContain('READY');
    expect(seen).not.toContain('SHARE-KEYSTROKE');
    expect(seen).not.toContain('SHARE-TEXT-FRAME');
    expect(seen).not.toContain('RESIZED 77x22');
    expect(cli.ofType('file_change')).toEqual([]);
    expect(tab.ofType('control').some((m) => m.controlling === true)).toBe(false);
    await cli.close();
  });
});
