/**
 * Several clients on one relay (issue 24), with a fake agent and fake sockets: who controls,
 * what a watcher and a read-only client may do, CLI replacement, sync-back staying with the CLI,
 * and a slow watcher that must never slow the agent. The real runtime: runtime-clients.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ClientSocket } from '../../session-runtime/client-socket.js';
import type { ClientOptions } from '../../session-runtime/clients.js';
import { FRAME_CAP_BYTES, HIGH_WATER_BYTES, Relay, type SyncTarget } from '../../session-runtime/relay.js';
import { FakeAgent, FakeSocket } from '../helpers/relay-fakes.js';
import { waitFor } from '../helpers/wait.js';

const CLI: ClientOptions = { kind: 'cli', readonly: false };
const BROWSER: ClientOptions = { kind: 'browser', readonly: false };
const SHARE_LINK: ClientOptions = { kind: 'browser', readonly: true };

/** Records what the relay tells the sync-back sender: whose socket is the sync channel. */
class SyncChannelProbe implements SyncTarget {
  channel: ClientSocket | null = null;
  setChannel(channel: ClientSocket | null): void {
    this.channel = channel;
  }
}

function relayWithAgent(sync: SyncTarget | null = null, logCapacityBytes?: number) {
  const relay = new Relay(80, 24, sync, logCapacityBytes);
  const agent = new FakeAgent();
  relay.setAgent(agent);
  return { relay, agent };
}

async function attach(relay: Relay, options: ClientOptions, offset?: number): Promise<FakeSocket> {
  const socket = new FakeSocket();
  await relay.attach(socket, offset, options);
  return socket;
}

const send = (relay: Relay, socket: FakeSocket, message: object) => relay.handleText(socket, JSON.stringify(message));

describe('Relay with several clients', () => {
  it('serves a CLI and two browsers the same output; the CLI controls, everyone is told', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const b1 = await attach(relay, BROWSER);
    const b2 = await attach(relay, BROWSER);
    agent.emit('hello all');
    await waitFor(() => [cli, b1, b2].every((s) => s.output() === 'hello all'), 'the output at every client');
    // Each one: hello, then its own control message; later ones as the set changed.
    expect(b2.messages.map((m) => m.type)).toEqual(['hello', 'control']);
    expect(cli.control()).toEqual({ type: 'control', controlling: true, controller: 'cli', clients: 3 });
    expect(b1.control()).toEqual({ type: 'control', controlling: false, controller: 'cli', clients: 3 });
    expect(b2.control()).toEqual({ type: 'control', controlling: false, controller: 'cli', clients: 3 });
    expect(relay.clientCount).toBe(3);
    relay.detach(b1);
    expect(cli.control()).toMatchObject({ controlling: true, clients: 2 });
    expect(b2.control()).toMatchObject({ controlling: false, clients: 2 });
    relay.dispose();
  });

  it('counts share-link viewers out of the heartbeat: an open link never keeps a session from its TTL', async () => {
    const { relay } = relayWithAgent();
    const link = await attach(relay, SHARE_LINK);
    expect(relay.clientCount).toBe(1);
    expect(relay.ownerClientCount).toBe(0);
    const browser = await attach(relay, BROWSER);
    await attach(relay, CLI);
    expect(relay.ownerClientCount).toBe(2);
    relay.detach(browser);
    relay.detach(link);
    expect(relay.ownerClientCount).toBe(1);
    relay.dispose();
  });

  it('drops keystrokes and resizes from a watcher; the controller types and resizes', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const browser = await attach(relay, BROWSER);
    relay.handleBinary(browser, Buffer.from('from the watcher'));
    send(relay, browser, { type: 'resize', cols: 40, rows: 10 });
    relay.handleBinary(cli, Buffer.from('from the cli'));
    expect(Buffer.concat(agent.written).toString()).toBe('from the cli');
    expect(agent.size).toEqual([80, 24]);
    send(relay, cli, { type: 'resize', cols: 120, rows: 40 });
    expect(agent.size).toEqual([120, 40]);
    // The others draw at the PTY's size; the one that resized is not told its own size.
    expect(browser.ofType('resized')).toEqual([{ type: 'resized', cols: 120, rows: 40 }]);
    expect(cli.ofType('resized')).toEqual([]);
    relay.dispose();
  });

  it('moves control with take_control and tells everyone; the old controller watches', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const browser = await attach(relay, BROWSER);
    const other = await attach(relay, BROWSER);
    send(relay, browser, { type: 'take_control' });
    expect(browser.control()).toEqual({ type: 'control', controlling: true, controller: 'browser', clients: 3 });
    expect(cli.control()).toEqual({ type: 'control', controlling: false, controller: 'browser', clients: 3 });
    expect(other.control()).toEqual({ type: 'control', controlling: false, controller: 'browser', clients: 3 });
    relay.handleBinary(cli, Buffer.from('cli'));
    relay.handleBinary(browser, Buffer.from('browser'));
    expect(Buffer.concat(agent.written).toString()).toBe('browser');
    send(relay, browser, { type: 'resize', cols: 100, rows: 30 });
    expect(agent.size).toEqual([100, 30]);
    expect(cli.ofType('resized').at(-1)).toEqual({ type: 'resized', cols: 100, rows: 30 });
    // And back: the CLI asks (Enter, in the CLI).
    send(relay, cli, { type: 'take_control' });
    expect(cli.control()).toMatchObject({ controlling: true, controller: 'cli' });
    expect(browser.control()).toMatchObject({ controlling: false, controller: 'cli' });
    expect([cli, browser, other].every((s) => s.closed === null)).toBe(true);
    relay.dispose();
  });

  it('ignores take_control, keystrokes and resizes from a read-only client (a share link)', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const link = await attach(relay, SHARE_LINK);
    send(relay, link, { type: 'take_control' });
    relay.handleBinary(link, Buffer.from('typed by a share link'));
    send(relay, link, { type: 'resize', cols: 50, rows: 20 });
    expect(agent.written).toEqual([]);
    expect(agent.size).toEqual([80, 24]);
    expect(link.control()).toMatchObject({ controlling: false, controller: 'cli' });
    expect(cli.control()).toMatchObject({ controlling: true });
    // Even with nobody in control, a read-only client cannot take it.
    relay.detach(cli);
    send(relay, link, { type: 'take_control' });
    relay.handleBinary(link, Buffer.from('x'));
    expect(link.control()).toEqual({ type: 'control', controlling: false, controller: null, clients: 1 });
    expect(agent.written).toEqual([]);
    // A read-only client that says it is a CLI neither replaces the CLI nor controls.
    const cli2 = await attach(relay, CLI);
    const roCli = await attach(relay, { kind: 'cli', readonly: true });
    expect(cli2.closed).toBeNull();
    expect(roCli.control()).toMatchObject({ controlling: false, controller: 'cli' });
    relay.handleBinary(roCli, Buffer.from('y'));
    expect(agent.written).toEqual([]);
    relay.dispose();
  });

  it('resizes the PTY to the connect query only for a client that takes control at attach', async () => {
    const { relay, agent } = relayWithAgent();
    const browser = await attach(relay, { ...BROWSER, cols: 33, rows: 11 });
    expect(agent.size).toEqual([80, 24]);
    expect(browser.ofType('hello')[0]).toMatchObject({ cols: 80, rows: 24 });
    await attach(relay, { ...CLI, cols: 150, rows: 50 });
    expect(agent.size).toEqual([150, 50]);
    expect(browser.ofType('resized')).toEqual([{ type: 'resized', cols: 150, rows: 50 }]);
    relay.dispose();
  });

  it('a second CLI replaces the first CLI (4000) and takes control; the browsers stay', async () => {
    const { relay, agent } = relayWithAgent();
    const first = await attach(relay, CLI);
    const browser = await attach(relay, BROWSER);
    send(relay, browser, { type: 'take_control' });
    const second = await attach(relay, CLI);
    expect(first.messages.at(-1)).toMatchObject({ type: 'error', code: 'replaced' });
    expect(first.closed?.[0]).toBe(4000);
    expect(browser.closed).toBeNull();
    expect(second.control()).toEqual({ type: 'control', controlling: true, controller: 'cli', clients: 2 });
    expect(browser.control()).toEqual({ type: 'control', controlling: false, controller: 'cli', clients: 2 });
    // A browser coming never replaces the CLI.
    const late = await attach(relay, BROWSER);
    expect(second.closed).toBeNull();
    expect(late.control()).toMatchObject({ controlling: false, controller: 'cli', clients: 3 });
    agent.emit('after');
    await waitFor(() => [second, browser, late].every((s) => s.output().endsWith('after')), 'output at the new CLI and the browsers');
    relay.dispose();
  });

  it('keeps sync-back on the CLI: a browser cannot ask for it, and its coming, control and leaving do not end it', async () => {
    const probe = new SyncChannelProbe();
    const { relay } = relayWithAgent(probe);
    const cli = await attach(relay, CLI);
    send(relay, cli, { type: 'sync_back', enabled: true });
    expect(probe.channel).toBe(cli);
    const browser = await attach(relay, BROWSER);
    send(relay, browser, { type: 'sync_back', enabled: true }); // file_change would go to the browser
    expect(probe.channel).toBe(cli);
    send(relay, browser, { type: 'sync_back', enabled: false });
    send(relay, browser, { type: 'take_control' });
    expect(probe.channel).toBe(cli);
    relay.detach(browser);
    expect(probe.channel).toBe(cli);
    // The CLI itself leaving ends it; so does a newer CLI replacing it.
    relay.detach(cli);
    expect(probe.channel).toBeNull();
    const again = await attach(relay, CLI);
    send(relay, again, { type: 'sync_back', enabled: true });
    expect(probe.channel).toBe(again);
    await attach(relay, CLI);
    expect(probe.channel).toBeNull();
    relay.dispose();
  });

  it('accepts git_home from the CLI only', async () => {
    const { relay, agent } = relayWithAgent();
    const browser = await attach(relay, BROWSER);
    send(relay, browser, { type: 'git_home', enabled: true });
    relay.gitMoved();
    expect(browser.ofType('git_moved')).toEqual([]);
    const cli = await attach(relay, CLI);
    send(relay, cli, { type: 'git_home', enabled: true });
    relay.gitMoved();
    expect(cli.ofType('git_moved')).toHaveLength(1);
    agent.exit({ code: 0, signal: null });
    expect(relay.gitWantedAtExit).toBe(true);
    relay.dispose();
  });

  it('when the controller leaves, nobody controls (the agent is not paused); a CLI coming back takes it', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const browser = await attach(relay, BROWSER);
    cli.stalled = true;
    while (!agent.paused) agent.emit(Buffer.alloc(64 * 1024, 0x61));
    relay.detach(cli);
    expect(agent.paused).toBe(false);
    expect(browser.control()).toEqual({ type: 'control', controlling: false, controller: null, clients: 1 });
    relay.handleBinary(browser, Buffer.from('nobody controls'));
    expect(agent.written).toEqual([]);
    const back = await attach(relay, CLI, relay.log.end);
    expect(back.control()).toMatchObject({ controlling: true, controller: 'cli', clients: 2 });
    expect(browser.control()).toMatchObject({ controlling: false, controller: 'cli', clients: 2 });
    relay.dispose();
  });

  it('never pauses the agent for a stalled watcher, holds at most the high-water mark for it, and closes it 1001 once it falls out of the log', async () => {
    const capacity = 4 * 1024 * 1024;
    const { relay, agent } = relayWithAgent(null, capacity);
    const cli = await attach(relay, CLI);
    const watcher = await attach(relay, BROWSER);
    watcher.stalled = true; // a phone on a train: nothing it was sent is taken
    const chunk = Buffer.alloc(16 * 1024, 0x78);
    let peakBuffered = 0;
    while (watcher.closed === null && relay.log.end < 4 * capacity) {
      agent.emit(chunk);
      expect(agent.paused).toBe(false);
      peakBuffered = Math.max(peakBuffered, watcher.bufferedAmount);
      await new Promise((r) => setImmediate(r)); // the CLI takes what it is sent
    }
    expect(watcher.closed?.[0]).toBe(1001);
    expect(relay.log.end).toBeGreaterThan(capacity);
    expect(relay.log.end).toBeLessThanOrEqual(capacity + HIGH_WATER_BYTES + 2 * FRAME_CAP_BYTES);
    expect(peakBuffered).toBeLessThanOrEqual(HIGH_WATER_BYTES + FRAME_CAP_BYTES);
    expect(cli.control()).toMatchObject({ controlling: true, clients: 1 });
    await waitFor(() => cli.output().length === relay.log.end, 'every byte at the CLI');
    // The browser reconnects with what it had: too old now, so it gets a screen.
    const back = await attach(relay, BROWSER, watcher.frames.reduce((n, f) => n + f.length, 0));
    const hello = back.ofType('hello')[0];
    expect(hello?.screen).toContain('xxxx');
    expect(hello?.offset).toBe(relay.log.end);
    relay.dispose();
  });

  it('delivers every byte in order to each client while frames sit in a slow watcher (no frame buffer reused under a send)', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const slow = await attach(relay, BROWSER);
    slow.stalled = true;
    const sent: Buffer[] = [];
    for (let i = 0; i < 30; i++) {
      const chunk = Buffer.alloc(20 * 1024, `chunk ${i} `);
      sent.push(chunk);
      agent.emit(chunk);
      await new Promise((r) => setImmediate(r));
    }
    const all = Buffer.concat(sent);
    await waitFor(() => Buffer.concat(cli.frames).length === all.length, 'every byte at the CLI');
    await waitFor(() => {
      slow.flush();
      return Buffer.concat(slow.frames).length === all.length;
    }, 'every byte at the slow watcher');
    expect(Buffer.concat(cli.frames).equals(all)).toBe(true);
    expect(Buffer.concat(slow.frames).equals(all)).toBe(true);
    relay.dispose();
  });

  it('at agent exit every client gets the rest of the output, exit, then 4001', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const browser = await attach(relay, BROWSER);
    const link = await attach(relay, SHARE_LINK);
    agent.emit('last words');
    agent.exit({ code: 7, signal: null });
    for (const s of [cli, browser, link]) {
      expect(s.output()).toBe('last words');
      expect(s.messages.at(-1)).toEqual({ type: 'exit', code: 7, signal: null });
      expect(s.closed?.[0]).toBe(4001);
    }
    expect(relay.clientCount).toBe(0);
    relay.dispose();
  });

  it('at exit a stalled watcher gets the rest as it drains, bounded meanwhile', async () => {
    const { relay, agent } = relayWithAgent();
    const cli = await attach(relay, CLI);
    const watcher = await attach(relay, BROWSER);
    watcher.stalled = true;
    for (let i = 0; i < 64; i++) agent.emit(Buffer.alloc(32 * 1024, 0x7a)); // 2 MiB
    agent.exit({ code: 0, signal: null });
    expect(cli.closed?.[0]).toBe(4001);
    expect(watcher.bufferedAmount).toBeLessThanOrEqual(HIGH_WATER_BYTES + FRAME_CAP_BYTES);
    expect(watcher.closed).toBeNull();
    await waitFor(() => {
      watcher.flush();
      watcher.stalled = true;
      return watcher.closed !== null;
    }, 'the watcher to be finished');
    expect(Buffer.concat(watcher.frames).length).toBe(relay.log.end);
    expect(watcher.messages.at(-1)).toEqual({ type: 'exit', code: 0, signal: null });
    expect(watcher.closed?.[0]).toBe(4001);
    relay.dispose();
  });

  it('closeAll ends every client with 4001', async () => {
    const { relay } = relayWithAgent();
    const sockets = [await attach(relay, CLI), await attach(relay, BROWSER), await attach(relay, SHARE_LINK)];
    relay.closeAll('stopping');
    expect(sockets.map((s) => s.closed)).toEqual(sockets.map(() => [4001, 'stopping']));
    expect(relay.clientCount).toBe(0);
    relay.dispose();
  });
});
