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
import { CATTY_BIN } from '../helpers/paths.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const LABEL = 'bright-wren-0005';
let harness: AttachHarness;
let api: FakeApi;
let runtime: FakeRuntime;

beforeAll(async () => {
  harness = await startAttachHarness(LABEL);
  ({ api, runtime } = harness);
});
afterAll(() => harness.close());

/** sh runs `catty <args>` in `home`, then prints its exit code and the terminal's settings. */
function cattyThenStty(args: string, home: string, env: NodeJS.ProcessEnv = {}): PtyProcess {
  const base = { PATH: process.env.PATH, HOME: home, CATTY_HOME: home, CATTY_KEYRING: 'off' };
  return PtyProcess.shell(`"${process.execPath}" "${CATTY_BIN}" ${args}; echo "rc=$?"; stty -a`, { cwd: home, env: { ...base, ...env } });
}

/** `cattyThenStty` logged in to the fake API, whose runtime `onConnect` scripts. */
function underPty(onConnect: (client: FakeClient) => void, args = `connect ${LABEL} --no-sync-back`): PtyProcess {
  runtime.onConnect = onConnect;
  return cattyThenStty(args, harness.loggedInHome('pty'), { CATTY_API_URL: api.url });
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
    const run = underPty((c) => {
      client = c;
      c.hello(0);
      c.output('agent ready\r\n');
    });
    const c = await waitFor(() => client, 'client', { timeoutMs: 20_000 });
    await run.waitForOutput('agent ready');
    run.write('q'); // raw mode: a single key arrives with no Enter
    await waitFor(() => c.inputText === 'q', 'raw keystroke', { timeoutMs: 10_000 });
    c.exit(3);
    await run.exited;
    expect(run.output()).toContain('rc=3');
    expectSaneTerminal(run.output());
  });

  it('detaches on Ctrl-] with exit 0 and a sane terminal', async () => {
    let client: FakeClient | undefined;
    const run = underPty((c) => {
      client = c;
      c.hello(0);
    });
    await waitFor(() => client?.ws.readyState === 1, 'client', { timeoutMs: 20_000 });
    // What Claude Code switches on (its own startup output), and a full-screen agent's modes.
    client!.output(Buffer.from('\x1b[?2004h\x1b[?1004h\x1b[?2031h\x1b[>4;2m\x1b[?1049h\x1b[?1000h\x1b[?25lFULL-SCREEN-AGENT'));
    await run.waitForOutput('FULL-SCREEN-AGENT', 10_000);
    run.write('\x1d');
    await run.exited;
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
    const run = underPty((c) => {
      client = c;
      c.hello(0);
    });
    await waitFor(() => client?.ws.readyState === 1, 'client', { timeoutMs: 20_000 });
    const pid = await waitFor(() => cattyPid(run.pid), 'catty pid', { timeoutMs: 10_000 });
    process.kill(pid, 'SIGTERM');
    await run.exited;
    expect(run.output()).toContain('rc=143');
    expectSaneTerminal(run.output());
  });

  it('clears the reconnect banner once the session is back; the agent continues at its cursor', async () => {
    const clients: FakeClient[] = [];
    const run = underPty((c) => {
      clients.push(c);
      if (clients.length > 1) return; // the reconnect is greeted below, once the banner shows
      c.hello(0);
      c.output('agent> typed');
      void c.flush().then(() => c.cut());
    });
    await run.waitForScreen('reconnecting');
    const second = await waitFor(() => clients[1], 'the reconnect', { timeoutMs: 20_000 });
    second.hello('agent> typed'.length); // an exact resume: nothing was missed
    second.output('!');
    // The banner's row is blank again, and the agent's next byte lands where its cursor was.
    const screen = await run.waitForScreen(/^ {12}!$/m, 10_000);
    expect(screen).not.toContain('reconnecting');
    expect(screen).not.toContain('connection lost');
    run.write('\x1d');
    await run.exited;
    expect(run.output()).toContain('rc=0');
  });

  it('picks a session with the arrow keys when connect gets no label', async () => {
    api.addSession({ label: 'second-pick-0007' });
    try {
      let client: FakeClient | undefined;
      const run = underPty((c) => {
        client = c;
        c.hello(0);
      }, 'connect --no-sync-back');
      await run.waitForOutput('second-pick-0007');
      // Newest first: second-pick-0007 is on top; down, down wraps back to it.
      run.write('\x1b[B');
      run.write('\x1b[B');
      run.write('\r');
      await waitFor(() => client?.ws.readyState === 1, 'attached', { timeoutMs: 20_000 });
      expect(api.state.requests).toContain('POST /v1/sessions/second-pick-0007/connect');
      run.write('\x1d');
      await run.exited;
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
      const run = underPty(() => undefined, `logs ${LABEL}`);
      await run.exited;
      expect(run.output()).toContain('rc=0');
      const printed = run.output().slice(0, run.output().indexOf('rc='));
      expect(printed).toContain('\x1b[95mWELCOME\x1b[39m');
      for (const query of ['\x1b[c', '\x1b[>0q', '\x1b[6n']) expect(printed).not.toContain(query);
      const after = printed.slice(printed.indexOf('WELCOME'));
      for (const off of ['\x1b[?1004l', '\x1b[?2004l', '\x1b[?25h', '\x1b[999;1H']) expect(after).toContain(off);
      expectSaneTerminal(run.output());

      const file = `${tempDir('logs-pipe')}/logs.bin`;
      const piped = underPty(() => undefined, `logs ${LABEL} > "${file}"`);
      await piped.exited;
      expect(fs.readFileSync(file)).toEqual(Buffer.concat([recorded, Buffer.from('\n')]));
    } finally {
      api.state.logs = Buffer.alloc(0);
    }
  });

  it('reads a secret from a hidden prompt', async () => {
    const home = tempDir('pty');
    const p = cattyThenStty('secrets set HIDDEN_ONE', home);
    await p.waitForOutput('Value for HIDDEN_ONE');
    p.write('s3cr3t-typed\r');
    await p.exited;
    const out = p.output();
    expect(out).toContain('rc=0');
    expect(out).not.toContain('s3cr3t-typed');
    expectSaneTerminal(out);
    const { SecretStore } = await import('../../cli/secrets/store.js');
    const { fileKeySource, machineIdSalt } = await import('../../cli/secrets/key.js');
    const store = new SecretStore({ file: `${home}/secrets.json`, keySource: fileKeySource(`${home}/secret.key`), salt: machineIdSalt });
    expect(store.all()).toEqual({ HIDDEN_ONE: 's3cr3t-typed' });
  });
});
