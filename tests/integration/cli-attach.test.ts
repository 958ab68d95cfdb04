/**
 * Attaching through a real `catty connect` (in-process) to a fake runtime: byte-exact resume
 * across cut sockets, close codes 4000/4001, exit codes, the detach key, resize and signals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAttachHarness, outputLog, type AttachHarness } from '../helpers/attach-harness.js';
import type { FakeApi } from '../helpers/cli-fake-api.js';
import type { FakeClient, FakeRuntime } from '../helpers/fake-runtime.js';
import { PassThrough } from 'node:stream';
import { Capture, startCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const LABEL = 'steady-heron-0002';
let harness: AttachHarness;
let api: FakeApi;
let runtime: FakeRuntime;

beforeAll(async () => {
  harness = await startAttachHarness(LABEL);
  ({ api, runtime } = harness);
});
afterAll(() => harness.close());

const connect: AttachHarness['connect'] = (onConnect, options) => harness.connect(onConnect, options);

describe('reconnect', () => {
  it('paints the screen when the offset is too old', async () => {
    let first = true;
    const run = await connect((client) => {
      if (first) {
        first = false;
        client.hello(0);
        client.output('old output\r\n');
        void client.flush().then(() => client.cut());
        return;
      }
      client.hello(999_999, { screen: 'RESTORED SCREEN' });
      client.output('live');
      client.exit(0);
    });
    expect(await run.code).toBe(0);
    expect(run.stdout.text).toBe('old output\r\n\x1b[H\x1b[2JRESTORED SCREENlive');
  });

  it('gives up after the bounded time with 255 and the command to run', async () => {
    const run = await connect(
      (client) => {
        client.hello(0);
        client.output('hi');
        void client.flush().then(() => {
          runtime.onConnect = (c) => c.cut(); // every later attempt fails
          client.cut();
        });
      },
      { env: { CATTY_RECONNECT_TIMEOUT_MS: '1500' } },
    );
    const started = Date.now();
    expect(await run.code).toBe(255);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.stderr.text).toContain(`catty connect ${LABEL}`);
    expect(run.stderr.text).toContain('reconnecting');
  });

  it('does not reconnect with --no-auto-reconnect', async () => {
    let connects = 0;
    const run = await connect(
      (client) => {
        connects++;
        client.hello(0);
        void client.flush().then(() => client.cut());
      },
      { args: ['--no-auto-reconnect'] },
    );
    expect(await run.code).toBe(255);
    expect(connects).toBe(1);
  });
});

describe('backpressure', () => {
  it('pauses the socket while a slow terminal drains, and loses nothing', async () => {
    const log = outputLog(2_000_000);
    const stdout = new Capture({ highWaterMark: 16 * 1024 });
    stdout.delayMs = 2;
    let pausedSeen = false;
    runtime.onConnect = (client) => {
      client.hello(0);
      for (let at = 0; at < log.length; at += 8192) client.output(log.subarray(at, at + 8192));
      client.exit(0);
    };
    const home = harness.loggedInHome('attach');
    const run = startCli(['connect', LABEL, '--no-sync-back'], { home, stdout, env: { CATTY_API_URL: api.url } });
    let maxQueued = 0;
    const write = stdout.write.bind(stdout) as (chunk: Buffer) => boolean;
    stdout.write = ((chunk: Buffer) => {
      const ok = write(chunk);
      maxQueued = Math.max(maxQueued, stdout.writableLength);
      if (!ok) pausedSeen = true;
      return ok;
    }) as typeof stdout.write;
    const code = await run.code;
    expect(code).toBe(0);
    expect(pausedSeen).toBe(true);
    // The socket was paused: what piled up is bounded by the stream's buffer plus what ws had
    // already read (never the whole 2 MB), and every byte reached the terminal before exit.
    expect(maxQueued).toBeLessThan(512 * 1024);
    expect(stdout.buffer.equals(log)).toBe(true);
  }, 60_000);
});

describe('close codes and exit codes', () => {
  it("exits with the agent's code", async () => {
    const run = await connect((client) => {
      client.hello(0);
      client.output('bye\r\n');
      client.exit(7);
    });
    expect(await run.code).toBe(7);
    expect(run.stdout.text).toBe('bye\r\n');
  });

  it('exits 4 when the runtime refuses the token', async () => {
    const saved = api.state.connectToken;
    api.state.connectToken = 'stale-token';
    try {
      const run = await connect((client) => client.hello(0));
      expect(await run.code).toBe(4);
      expect(run.stderr.text).toContain('refused the connection');
    } finally {
      api.state.connectToken = saved;
    }
  });

});

describe('keys, resize, signals', () => {
  it('relays keystrokes and detaches on Ctrl-] (exit 0)', async () => {
    let client: FakeClient | undefined;
    const run = await connect((c) => {
      client = c;
      c.hello(0);
    });
    const c = await waitFor(() => client, 'client', { timeoutMs: 10_000 });
    await waitFor(() => c.ws.readyState === 1, 'the socket to open');
    run.stdin.write('echo hi\r');
    await waitFor(() => c.inputText === 'echo hi\r', 'input', { timeoutMs: 10_000 });
    run.stdin.write('ab\x1dcd');
    expect(await run.code).toBe(0);
    await waitFor(() => c.inputText === 'echo hi\rab', 'input before the detach key', { timeoutMs: 10_000 });
    expect(c.inputText).toBe('echo hi\rab');
    expect(run.stderr.text).toContain(`catty connect ${LABEL}`);
  });

  it('holds keystrokes typed before the hello and sends them, in order, after it', async () => {
    let client: FakeClient | undefined;
    let greet = () => {};
    const run = await connect((c) => {
      client = c;
      greet = () => c.hello(0);
    });
    run.stdin.write('typed early '); // before the socket is even open
    const c = await waitFor(() => client, 'client', { timeoutMs: 10_000 });
    await waitFor(() => c.ws.readyState === 1, 'the socket to open');
    run.stdin.write('and while connecting\r');
    await new Promise((r) => setImmediate(r));
    expect(c.inputText).toBe(''); // nothing reaches the runtime before its hello
    greet();
    run.stdin.write('after');
    await waitFor(() => c.inputText === 'typed early and while connecting\rafter', 'input', { timeoutMs: 10_000 });
    run.stdin.write('\x1d');
    expect(await run.code).toBe(0);
  });

  it('keeps what is typed while reconnecting and sends it to the next connection', async () => {
    const clients: FakeClient[] = [];
    const run = await connect((c) => {
      clients.push(c);
      if (clients.length === 1) c.hello(0); // the second connection is greeted below
    }, { env: { CATTY_RECONNECT_BASE_MS: '1000' } }); // 'two ' is typed during the 0.5–1 s wait
    const first = await waitFor(() => clients[0], 'client', { timeoutMs: 10_000 });
    await waitFor(() => first.ws.readyState === 1, 'the socket to open');
    run.stdin.write('one ');
    await waitFor(() => first.inputText === 'one ', 'first input', { timeoutMs: 10_000 });
    first.cut();
    await waitFor(() => run.stderr.text.includes('reconnecting'), 'reconnecting', { timeoutMs: 10_000 });
    run.stdin.write('two ');
    const second = await waitFor(() => clients[1], 'second client', { timeoutMs: 10_000 });
    run.stdin.write('three'); // connected, before the hello
    second.hello(0);
    await waitFor(() => second.inputText === 'two three', 'input after the reconnect', { timeoutMs: 10_000 });
    expect(first.inputText).toBe('one ');
    run.stdin.write('\x1d');
    expect(await run.code).toBe(0);
  });

  it('detaches at once on the detach key while waiting to reconnect', async () => {
    const run = await connect(
      (c) => {
        c.hello(0);
        void c.flush().then(() => {
          runtime.onConnect = (later) => later.cut(); // every later attempt fails
          c.cut();
        });
      },
      { env: { CATTY_RECONNECT_BASE_MS: '60000' } },
    );
    await waitFor(() => run.stderr.text.includes('reconnecting'), 'reconnecting', { timeoutMs: 10_000 });
    const pressed = Date.now();
    run.stdin.write('\x1d');
    expect(await run.code).toBe(0);
    expect(Date.now() - pressed).toBeLessThan(2_000); // the wait is 2.5–5 s
    expect(run.stderr.text).toContain(`reattach with: catty connect ${LABEL}`);
  });

  it('honours --detach-key', async () => {
    let client: FakeClient | undefined;
    const run = await connect((c) => {
      client = c;
      c.hello(0);
    }, { args: ['--detach-key', 'ctrl-x'] });
    const c = await waitFor(() => client, 'client', { timeoutMs: 10_000 });
    run.stdin.write('a\x1db\x18');
    expect(await run.code).toBe(0);
    await waitFor(() => c.inputText === 'a\x1db', 'input', { timeoutMs: 10_000 });
  });

  it('sends a resize on SIGWINCH and exits 143 on SIGTERM', async () => {
    let client: FakeClient | undefined;
    const run = await connect((c) => {
      client = c;
      c.hello(0);
    });
    const c = await waitFor(() => client, 'client', { timeoutMs: 10_000 });
    await waitFor(() => c.ws.readyState === 1, 'the socket to open');
    run.stdout.columns = 132;
    run.stdout.rows = 43;
    run.proc.emit('SIGWINCH');
    await waitFor(() => c.control.find((m) => m.type === 'resize'), 'resize', { timeoutMs: 10_000 });
    expect(c.control.find((m) => m.type === 'resize')).toEqual({ type: 'resize', cols: 132, rows: 43 });
    run.proc.emit('SIGTERM');
    expect(await run.code).toBe(143);
    await waitFor(() => c.closed, 'socket closed', { timeoutMs: 10_000 });
  });

  it('applies a resize made while the socket was connecting once the session answers', async () => {
    let client: FakeClient | undefined;
    let resizeNow = () => {};
    const run = await connect((c) => {
      client = c;
      // Same process: the CLI's side of the socket has not seen the upgrade's answer yet.
      resizeNow();
      setTimeout(() => c.hello(0), 50); // on purpose: the resize comes while the socket connects
    });
    resizeNow = () => {
      run.stdout.columns = 100;
      run.stdout.rows = 30;
      run.proc.emit('SIGWINCH');
    };
    const c = await waitFor(() => client, 'client', { timeoutMs: 10_000 });
    await waitFor(() => c.control.find((m) => m.type === 'resize'), 'resize', { timeoutMs: 10_000 });
    expect(c.control.filter((m) => m.type === 'resize').at(-1)).toEqual({ type: 'resize', cols: 100, rows: 30 });
    run.stdin.write('\x1d');
    expect(await run.code).toBe(0);
  });

  it('without a label and without a TTY, lists the choices on lines of their own and exits 2', async () => {
    // A label from the API is outside input: its newline and escape stay escaped, ours print.
    const hostile = 'evil\nfake-line\x1b[31m';
    api.addSession({ label: 'other-one-0008' });
    api.addSession({ label: hostile });
    try {
      const home = harness.loggedInHome('attach');
      const run = startCli(['connect'], { home, env: { CATTY_API_URL: api.url } });
      run.stdin.end();
      expect(await run.code).toBe(2);
      const lines = run.stderr.text.split('\n');
      expect(lines[0]).toBe('catty: Which session? Pass a label:');
      expect(lines[1]).toMatch(/^ {4}LABEL +STATUS +AGE +PROVISIONER$/);
      expect(lines.some((l) => /^ {4}other-one-0008 +running/.test(l))).toBe(true);
      expect(lines.some((l) => l.startsWith(`    ${LABEL} `))).toBe(true);
      expect(lines.some((l) => l.startsWith('    evil\\x0afake-line\\x1b[31m '))).toBe(true);
      expect(run.stderr.text).not.toContain('\x1b');
      expect(lines.some((l) => l.startsWith('fake-line'))).toBe(false);
    } finally {
      api.state.sessions = api.state.sessions.filter((s) => s.label !== 'other-one-0008' && s.label !== hostile);
    }
  });

  it.each<[string, (c: FakeClient, run: ReturnType<typeof startCli>) => void, number]>([
    ['agent exit', (c) => c.exit(0), 0],
    ['detach key', (_c, run) => run.stdin.write('\x1d'), 0],
    ['SIGTERM', (_c, run) => run.proc.emit('SIGTERM'), 143],
    ['SIGHUP', (_c, run) => run.proc.emit('SIGHUP'), 129],
    ['session ended', (c) => c.close(4001, 'gone'), 4],
    ['replaced', (c) => c.close(4000, 'replaced'), 255],
  ])('puts a TTY in raw mode and restores it on %s', async (_what, end, expected) => {
    const calls: boolean[] = [];
    const stdin = Object.assign(new PassThrough(), {
      isTTY: true,
      isRaw: false,
      setRawMode(mode: boolean) {
        calls.push(mode);
        this.isRaw = mode;
        return this;
      },
    });
    runtime.onConnect = (c) => c.hello(0);
    const home = harness.loggedInHome('attach');
    const before = runtime.clients.length;
    const run = startCli(['connect', LABEL, '--no-sync-back', '--no-auto-reconnect'], { home, stdin, env: { CATTY_API_URL: api.url } });
    const c = await waitFor(() => (runtime.clients.length > before ? runtime.clients.at(-1) : undefined), 'client', { timeoutMs: 10_000 });
    await waitFor(() => c.ws.readyState === 1, 'the socket to open');
    expect(calls).toEqual([true]);
    end(c, run);
    expect(await run.code).toBe(expected);
    expect(calls).toEqual([true, false]);
    expect(run.proc.listenerCount('SIGWINCH') + run.proc.listenerCount('SIGTERM') + run.proc.listenerCount('exit')).toBe(0);
  });
});
