/**
 * Several clients on one session (issue 24) through the built catty-session with a real PTY: a
 * CLI-like client and browser-like ones (`client=browser`, `readonly=1`) on the real `/connect`,
 * and the CLI's own attach loop losing and taking back control. Security cases 68 (a watcher or
 * a read-only client cannot type, resize or take control) and 69 (a stalled watcher neither
 * stalls the agent nor grows the runtime's memory).
 */
import { PassThrough } from 'node:stream';
import { describe, expect } from 'vitest';
import { attach } from '../../cli/attach/attach.js';
import { createContext } from '../../cli/context.js';
import { DEFAULT_LOG_CAPACITY_BYTES } from '../../session-runtime/output-log.js';
import { CloseCode, MAX_CLIENTS } from '../../session-runtime/wire/protocol.js';
import { Capture, FakeProc } from '../helpers/cli.js';
import { test as it } from '../helpers/fixtures.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { TestClient, agentCmd, peakRssKiB, rssKiB, syncedState, type RuntimeProcess, type StartOptions } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

const noUpload = (env: Record<string, string> = {}): StartOptions => ({ env: { CATTY_NO_UPLOAD: '1', ...env } });

type Query = { offset?: number; cols?: number; rows?: number; client?: 'cli' | 'browser'; readonly?: 1 };
/** A client of the given kind (TestClient's query names only offset and size; the rest passes). */
function connect(rt: RuntimeProcess, query: Query = {}): TestClient {
  const params: { offset?: number; cols?: number; rows?: number } = query;
  return new TestClient(rt, params);
}

async function greeted(c: TestClient): Promise<TestClient> {
  await c.opened;
  await c.waitForHello();
  await waitFor(() => c.ofType('control').length > 0, 'the control message after hello');
  return c;
}

const lastControl = (c: TestClient) => c.ofType('control').at(-1);

describe('catty-session with several clients', () => {
  it('a CLI types, a browser watches and takes control, control moves back; everyone is told', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const cli = connect(rt, { cols: 100, rows: 30 });
    await cli.opened;
    await cli.waitForText('READY');
    const browser = await greeted(connect(rt, { client: 'browser', cols: 40, rows: 10 }));
    // The browser's connect size is not applied: it watches at the CLI's size.
    expect(browser.hello()).toMatchObject({ cols: 100, rows: 30 });
    expect(lastControl(browser)).toEqual({ type: 'control', controlling: false, controller: 'cli', clients: 2 });
    await waitFor(() => lastControl(cli)?.clients === 2, 'the CLI told of the browser');
    expect(lastControl(cli)).toEqual({ type: 'control', controlling: true, controller: 'cli', clients: 2 });

    cli.send(Buffer.from('from-cli '));
    await browser.waitForText('from-cli');
    browser.send(Buffer.from('from-watcher '));
    cli.send(Buffer.from('\rsize\r')); // a barrier: the agent answers after anything sent before
    await cli.waitForText('SIZE 100x30');
    await browser.waitForText('SIZE 100x30');
    expect(cli.text()).not.toContain('from-watcher');

    browser.control({ type: 'take_control' });
    await waitFor(() => lastControl(cli)?.controller === 'browser', 'the CLI told the browser has control');
    expect(lastControl(cli)).toEqual({ type: 'control', controlling: false, controller: 'browser', clients: 2 });
    expect(lastControl(browser)).toMatchObject({ controlling: true, controller: 'browser' });
    browser.control({ type: 'resize', cols: 60, rows: 20 });
    await cli.waitForText('RESIZED 60x20');
    expect(cli.ofType('resized')).toEqual([{ type: 'resized', cols: 60, rows: 20 }]);
    cli.send(Buffer.from('from-old-controller '));
    browser.send(Buffer.from('\rsize\r'));
    await browser.waitForText('SIZE 60x20');
    await cli.waitForText('SIZE 60x20');
    expect(browser.text()).not.toContain('from-old-controller');

    cli.control({ type: 'take_control' });
    await waitFor(() => lastControl(browser)?.controller === 'cli', 'the browser told the CLI has control');
    cli.control({ type: 'resize', cols: 100, rows: 30 });
    await browser.waitForText('RESIZED 100x30');
    expect(browser.ofType('resized').at(-1)).toEqual({ type: 'resized', cols: 100, rows: 30 });
  });

  it('68: a read-only client and a watcher cannot type, resize or take control (dropped by the runtime)', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const cli = connect(rt, { cols: 90, rows: 25 });
    await cli.opened;
    await cli.waitForText('READY');
    const link = await greeted(connect(rt, { client: 'browser', readonly: 1, cols: 20, rows: 5 }));
    const watcher = await greeted(connect(rt, { client: 'browser' }));
    link.control({ type: 'take_control' });
    link.send(Buffer.from('typed-by-link '));
    link.control({ type: 'resize', cols: 30, rows: 8 });
    watcher.send(Buffer.from('typed-by-watcher '));
    watcher.control({ type: 'resize', cols: 31, rows: 9 });
    cli.send(Buffer.from('\rsize\r'));
    await link.waitForText('SIZE 90x25');
    for (const c of [cli, link, watcher]) expect(c.text()).not.toMatch(/typed-by|RESIZED/);
    expect(lastControl(cli)).toMatchObject({ controlling: true, controller: 'cli', clients: 3 });
    expect(link.ofType('control').every((m) => !m.controlling)).toBe(true);
    // With nobody in control, still nothing from the link.
    await cli.close();
    await waitFor(() => lastControl(link)?.controller === null, 'the link told nobody controls');
    link.control({ type: 'take_control' });
    link.send(Buffer.from('typed-by-link-again '));
    watcher.control({ type: 'take_control' });
    await waitFor(() => lastControl(watcher)?.controlling, 'the watcher in control');
    watcher.send(Buffer.from('\rsize\r'));
    await watcher.waitForText('SIZE 90x25');
    expect(watcher.text()).not.toContain('typed-by-link');
    expect(lastControl(link)).toMatchObject({ controlling: false, controller: 'browser' });
  });

  it(`refuses a client past ${MAX_CLIENTS} with 429 at the upgrade`, async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const clients = [connect(rt)];
    for (let i = 1; i < MAX_CLIENTS; i++) clients.push(connect(rt, { client: 'browser' }));
    await Promise.all(clients.map((c) => greeted(c)));
    const extra = connect(rt, { client: 'browser' });
    await expect(extra.opened).rejects.toThrow();
    expect(extra.rejectedStatus).toBe(429);
    // One leaves: there is room again.
    await clients.pop()!.close();
    await waitFor(async () => {
      const again = connect(rt, { client: 'browser' });
      return again.opened.then(
        () => true,
        () => false,
      );
    }, 'a client accepted again');
  });

  it('file_change goes only to the CLI; a browser asking, taking control and leaving keeps the CLI syncing', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: agentCmd('files.mjs') }));
    const cli = connect(rt);
    await cli.opened;
    await cli.waitForHello();
    cli.control({ type: 'sync_back', enabled: true });
    const browser = await greeted(connect(rt, { client: 'browser' }));
    browser.control({ type: 'sync_back', enabled: true });
    browser.control({ type: 'take_control' });
    await waitFor(() => lastControl(cli)?.controller === 'browser', 'the browser in control');
    browser.send(Buffer.from(`write by-browser.txt ${Buffer.from('one').toString('base64')}\r`));
    await waitFor(() => syncedState(cli).files.has('by-browser.txt'), 'the CLI to get the file');
    await browser.close();
    cli.control({ type: 'take_control' });
    await waitFor(() => lastControl(cli)?.controlling, 'the CLI in control again');
    cli.send(Buffer.from(`write after-browser.txt ${Buffer.from('two').toString('base64')}\r`));
    await waitFor(() => syncedState(cli).files.has('after-browser.txt'), 'sync-back still on after the browser left');
    expect(browser.messages.filter((m) => m.type.startsWith('file_'))).toEqual([]);
  });

  it('69: a stalled watcher does not pause the agent or grow the runtime; it is closed 1001 and comes back with a screen', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: agentCmd('flood.mjs', '-1') }));
    const baseline = rssKiB(rt.proc.pid!);
    const watcher = await greeted(connect(rt, { client: 'browser' }));
    watcher.ws.pause(); // a phone in a tunnel: the runtime's socket to it fills up
    const cli = connect(rt);
    await cli.opened;
    await cli.waitForHello();
    const start = cli.bytes;
    // Memory is what this measures, while the CLI reads the flood at full speed.
    const [peak] = await peakRssKiB([rt.proc.pid!], 3000);
    // Far past the log: had the watcher's lag paused the agent, the CLI would have ~1 MiB.
    await waitFor(() => cli.bytes - start > 3 * DEFAULT_LOG_CAPACITY_BYTES, 'the flood to reach the CLI past the log', { timeoutMs: 30_000 });
    console.log(`69: stalled watcher: runtime VmRSS baseline ${baseline} KiB, peak ${peak} KiB; the CLI got ${cli.bytes - start} bytes`);
    expect(peak! - baseline).toBeLessThan(60 * 1024);
    watcher.ws.resume();
    expect(await watcher.closed).toBe(CloseCode.goingAway);
    const back = await greeted(connect(rt, { client: 'browser', offset: watcher.bytes }));
    expect(back.hello()?.screen).toBeDefined();
    expect(back.hello()!.offset).toBeGreaterThan(watcher.bytes);
    expect(lastControl(back)).toMatchObject({ controlling: false, controller: 'cli', clients: 2 });
  });

  it('at agent exit the CLI, a browser and a link all get the rest, exit and 4001', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const cli = connect(rt);
    await cli.opened;
    await cli.waitForText('READY');
    const browser = await greeted(connect(rt, { client: 'browser' }));
    const link = await greeted(connect(rt, { client: 'browser', readonly: 1 }));
    cli.send(Buffer.from('bye\rexit 5\r'));
    for (const c of [cli, browser, link]) {
      expect(await c.closed).toBe(CloseCode.sessionEnded);
      expect(c.text()).toContain('bye');
      expect(c.messages.at(-1)).toEqual({ type: 'exit', code: 5, signal: null });
    }
  });

  it("the CLI's attach loop: a browser takes control, the CLI says so and types nothing; Enter takes it back and sends its size", async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const stdin = new PassThrough();
    const stdout = new Capture();
    const stderr = new Capture();
    stdout.columns = 100;
    stdout.rows = 30;
    const ctx = createContext({ env: {}, stdin, stdout, stderr, proc: new FakeProc() }, { insecure: false, debug: false }, REPO_ROOT);
    const running = attach(ctx, { label: 'demo', connectUrl: rt.url, connectToken: rt.token, detachKey: 0x1d, autoReconnect: false, reconnectTimeoutMs: 1000, sync: null });
    await waitFor(() => stdout.text.includes('READY'), 'the CLI attached');
    const browser = await greeted(connect(rt, { client: 'browser' }));
    browser.control({ type: 'take_control' });
    await waitFor(() => stderr.text.includes('[a browser has control of demo; press Enter to take it back, Ctrl-] to detach]'), 'the notice at the CLI', { timeoutMs: 5000 });
    browser.control({ type: 'resize', cols: 60, rows: 20 });
    await browser.waitForText('RESIZED 60x20');
    stdin.write('typed-while-watching');
    browser.send(Buffer.from('\rsize\r'));
    await waitFor(() => stdout.text.includes('SIZE 60x20'), 'the browser-driven output at the CLI');
    expect(stdout.text).not.toContain('typed-while-watching');
    expect(browser.text()).not.toContain('typed-while-watching');
    // Enter asks for control back (and is not typed); the CLI's size comes with it.
    stdin.write('\r');
    await browser.waitForText('RESIZED 100x30');
    expect(stderr.text).toContain('[you have control of demo again]');
    expect(lastControl(browser)).toMatchObject({ controlling: false, controller: 'cli' });
    stdin.write('size\r');
    await browser.waitForText('SIZE 100x30');
    stdin.write('\x1d');
    expect(await running).toBe(0);
  });
});
