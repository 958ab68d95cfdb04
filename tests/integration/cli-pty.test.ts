/**
 * The built `catty` under a real PTY (node-pty): raw mode while attached, and the terminal
 * restored afterwards on every way out — agent exit, detach key, SIGTERM. `stty -a` runs in the
 * same PTY right after catty exits.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAttachHarness, type AttachHarness } from '../helpers/attach-harness.js';
import type { FakeApi } from '../helpers/cli-fake-api.js';
import type { FakeClient, FakeRuntime } from '../helpers/fake-runtime.js';
import { CATTY_BIN, tempDir, waitUntil } from '../helpers/cli.js';

const LABEL = 'bright-wren-0005';
let harness: AttachHarness;
let api: FakeApi;
let runtime: FakeRuntime;

beforeAll(async () => {
  harness = await startAttachHarness(LABEL);
  ({ api, runtime } = harness);
});
afterAll(() => harness.close());

/** sh runs catty, then prints its exit code and the terminal's settings. */
async function underPty(onConnect: (client: FakeClient) => void, args = `connect ${LABEL} --no-sync-back`) {
  runtime.onConnect = onConnect;
  const home = await harness.loggedInHome('pty');
  const script = `"${process.execPath}" "${CATTY_BIN}" ${args}; echo "rc=$?"; stty -a`;
  const pty = await import('node-pty');
  let out = '';
  const p = pty.spawn('/bin/sh', ['-c', script], {
    name: 'xterm-256color',
    cols: 100,
    rows: 30,
    cwd: home,
    env: { PATH: process.env.PATH ?? '', HOME: home, CATTY_HOME: home, CATTY_KEYRING: 'off', TERM: 'xterm-256color', CATTY_API_URL: api.url },
  });
  p.onData((d) => (out += d));
  const exit = new Promise<number>((resolve) => p.onExit((e) => resolve(e.exitCode)));
  return { output: () => out, write: (d: string) => p.write(d), exit, shellPid: p.pid };
}

function cattyPid(shellPid: number): number | null {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === shellPid && fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(CATTY_BIN)) return Number(entry);
    } catch {
      // raced with an exiting process
    }
  }
  return null;
}

function expectSaneTerminal(output: string): void {
  const stty = output.slice(output.lastIndexOf('rc='));
  expect(stty).toMatch(/(^|\s)icanon(\s|$)/m);
  expect(stty).toMatch(/(^|\s)echo(\s|$)/m);
  expect(stty).not.toMatch(/-icanon/);
}

describe('catty under a real terminal', () => {
  it('is in raw mode while attached and restores the terminal after the agent exits', async () => {
    let client: FakeClient | undefined;
    const run = await underPty((c) => {
      client = c;
      c.hello(0);
      c.output('agent ready\r\n');
    });
    const c = await waitUntil(() => client, 20_000, 'client');
    await waitUntil(() => run.output().includes('agent ready'), 20_000, 'output');
    run.write('q'); // raw mode: a single key arrives with no Enter
    await waitUntil(() => c.inputText === 'q', 10_000, 'raw keystroke');
    c.exit(3);
    await run.exit;
    expect(run.output()).toContain('rc=3');
    expectSaneTerminal(run.output());
  });

  it('detaches on Ctrl-] with exit 0 and a sane terminal', async () => {
    let client: FakeClient | undefined;
    const run = await underPty((c) => {
      client = c;
      c.hello(0);
    });
    await waitUntil(() => client?.ws.readyState === 1, 20_000, 'client');
    // What Claude Code switches on (its own startup output), and a full-screen agent's modes.
    client!.output(Buffer.from('\x1b[?2004h\x1b[?1004h\x1b[?2031h\x1b[>4;2m\x1b[?1049h\x1b[?1000h\x1b[?25lFULL-SCREEN-AGENT'));
    await waitUntil(() => run.output().includes('FULL-SCREEN-AGENT'), 10_000, 'agent output');
    run.write('\x1d');
    await run.exit;
    expect(run.output()).toContain('rc=0');
    expect(run.output()).toContain('detached');
    // What the agent switched on is switched off again, and the message lands below its screen.
    const after = run.output().slice(run.output().indexOf('FULL-SCREEN-AGENT'));
    for (const off of ['\x1b[?1049l', '\x1b[?1000l', '\x1b[?1004l', '\x1b[?2031l', '\x1b[>4m', '\x1b[?2004l', '\x1b[?25h', '\x1b[999;1H']) expect(after).toContain(off);
    expect(after.indexOf('\x1b[999;1H')).toBeLessThan(after.indexOf('detached'));
    expectSaneTerminal(run.output());
  });

  it('restores the terminal on SIGTERM', async () => {
    let client: FakeClient | undefined;
    const run = await underPty((c) => {
      client = c;
      c.hello(0);
    });
    await waitUntil(() => client?.ws.readyState === 1, 20_000, 'client');
    const pid = await waitUntil(() => cattyPid(run.shellPid), 10_000, 'catty pid');
    process.kill(pid, 'SIGTERM');
    await run.exit;
    expect(run.output()).toContain('rc=143');
    expectSaneTerminal(run.output());
  });

  it('picks a session with the arrow keys when connect gets no label', async () => {
    api.addSession({ label: 'second-pick-0007' });
    try {
      let client: FakeClient | undefined;
      const run = await underPty((c) => {
        client = c;
        c.hello(0);
      }, 'connect --no-sync-back');
      await waitUntil(() => run.output().includes('second-pick-0007'), 20_000, 'picker');
      // Newest first: second-pick-0007 is on top; down, down wraps back to it.
      run.write('\x1b[B');
      run.write('\x1b[B');
      run.write('\r');
      await waitUntil(() => client?.ws.readyState === 1, 20_000, 'attached');
      expect(api.state.requests).toContain('POST /v1/sessions/second-pick-0007/connect');
      run.write('\x1d');
      await run.exit;
      expect(run.output()).toContain('rc=0');
      expectSaneTerminal(run.output());
    } finally {
      api.state.sessions = api.state.sessions.filter((s) => s.label !== 'second-pick-0007');
    }
  });

  it('prints logs without the requests a terminal would answer into the shell, and resets its modes; piped, as recorded', async () => {
    // Claude Code's start-up asks for device attributes and the terminal's version.
    const recorded = Buffer.from('\x1b[?2004h\x1b[?1004h\x1b[>0q\x1b[c\x1b[?25l\x1b[95mWELCOME\x1b[39m\x1b[6n', 'latin1');
    api.state.logs = recorded;
    try {
      const run = await underPty(() => undefined, `logs ${LABEL}`);
      await run.exit;
      expect(run.output()).toContain('rc=0');
      const printed = run.output().slice(0, run.output().indexOf('rc='));
      expect(printed).toContain('\x1b[95mWELCOME\x1b[39m');
      for (const query of ['\x1b[c', '\x1b[>0q', '\x1b[6n']) expect(printed).not.toContain(query);
      const after = printed.slice(printed.indexOf('WELCOME'));
      for (const off of ['\x1b[?1004l', '\x1b[?2004l', '\x1b[?25h', '\x1b[999;1H']) expect(after).toContain(off);
      expectSaneTerminal(run.output());

      const file = `${tempDir('logs-pipe')}/logs.bin`;
      const piped = await underPty(() => undefined, `logs ${LABEL} > "${file}"`);
      await piped.exit;
      expect(fs.readFileSync(file)).toEqual(Buffer.concat([recorded, Buffer.from('\n')]));
    } finally {
      api.state.logs = Buffer.alloc(0);
    }
  });

  it('reads a secret from a hidden prompt', async () => {
    const home = tempDir('pty');
    const pty = await import('node-pty');
    let out = '';
    const p = pty.spawn('/bin/sh', ['-c', `"${process.execPath}" "${CATTY_BIN}" secrets set HIDDEN_ONE; echo "rc=$?"; stty -a`], {
      name: 'xterm-256color',
      cols: 100,
      rows: 30,
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, CATTY_HOME: home, CATTY_KEYRING: 'off', TERM: 'xterm-256color' },
    });
    p.onData((d) => (out += d));
    const exit = new Promise<void>((resolve) => p.onExit(() => resolve()));
    await waitUntil(() => out.includes('Value for HIDDEN_ONE'), 20_000, 'prompt');
    p.write('s3cr3t-typed\r');
    await exit;
    expect(out).toContain('rc=0');
    expect(out).not.toContain('s3cr3t-typed');
    expectSaneTerminal(out);
    const { SecretStore } = await import('../../cli/secrets/store.js');
    const { fileKeySource, machineIdSalt } = await import('../../cli/secrets/key.js');
    const store = new SecretStore({ file: `${home}/secrets.json`, keySource: fileKeySource(`${home}/secret.key`), salt: machineIdSalt });
    expect(store.all()).toEqual({ HIDDEN_ONE: 's3cr3t-typed' });
  });
});
