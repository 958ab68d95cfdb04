/**
 * SECURITY.md 19–25: the terminal relay against the built catty-session with real PTYs and
 * WebSockets. Clients are the test's TestClient (in-process) or stream-client.mjs (its own
 * process, so it can be SIGSTOPped and its memory measured).
 */
import net from 'node:net';
import { describe, expect } from 'vitest';
import { CloseCode, MAX_FRAME_BYTES } from '../../session-runtime/wire/protocol.js';
import { TestClient, agentCmd, floodBytes, peakRssKiB, rssKiB, sha256, type RuntimeProcess, type StartOptions } from '../helpers/runtime.js';
import { FakeApi, loginTo } from '../helpers/cli-fake-api.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startCli } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { test as it } from '../helpers/fixtures.js';
import { StreamClient } from '../helpers/stream-client.js';
import { tempDir } from '../helpers/temp-dir.js';
import { elapse, waitFor } from '../helpers/wait.js';

/** A runtime that takes no upload (its agent starts at once); echo.mjs unless `env` says. */
const noUpload = (env: Record<string, string> = {}): StartOptions => ({ env: { CATTY_NO_UPLOAD: '1', ...env } });
/** A client in its own process, killed when the test ends. */
function streamClient(rt: RuntimeProcess, offset?: number): StreamClient {
  const c = new StreamClient(rt.wsUrl, rt.token, offset);
  onCleanup(() => c.kill());
  return c;
}

const logTail = async (rt: RuntimeProcess): Promise<string> =>
  Buffer.from(await (await fetch(`${rt.url}/logs`, { headers: rt.headers() })).arrayBuffer()).toString('latin1');

describe('SECURITY.md 19–25: terminal relay', () => {
  it('19: `yes` in the PTY, then Ctrl-C → honoured within ~1 s; memory bounded on both ends', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: JSON.stringify(['/bin/bash', '--norc', '--noprofile', '-i']) }));
    const c = streamClient(rt);
    await c.hello();
    c.send('echo PROMPT-$((40+2))\r');
    await waitFor(() => c.tailText().includes('PROMPT-42'), 'the shell to answer');
    const rtBase = rssKiB(rt.proc.pid!);
    const clientBase = rssKiB(c.proc.pid!);
    c.send('yes\r');
    await waitFor(() => c.last.bytes > 4 * 1024 * 1024, '`yes` to flood', { timeoutMs: 20_000 });
    // Two seconds of flood, on purpose: memory is what this measures.
    const [rtPeak, clientPeak] = await peakRssKiB([rt.proc.pid!, c.proc.pid!], 2000);
    const floodedBytes = c.last.bytes;
    const t0 = Date.now();
    c.send('\x03');
    c.send('echo DONE-$((6*7))\r');
    await waitFor(() => c.tailText().includes('DONE-42'), 'the shell after Ctrl-C', { timeoutMs: 10_000, everyMs: 5 });
    const interruptMs = Date.now() - t0;
    console.log(`19: ${floodedBytes} bytes of yes; Ctrl-C honoured in ${interruptMs} ms; runtime VmRSS ${rtBase}→${rtPeak} KiB, client ${clientBase}→${clientPeak} KiB`);
    // ~1 s on a quiet machine; the bound leaves room for a loaded 2-core CI box.
    expect(interruptMs).toBeLessThan(2500);
    // The output stopped: nothing but the next command's answer after the prompt came back.
    const after = c.last.bytes;
    c.send('echo QUIET-$((6*7))\r');
    await waitFor(() => c.tailText().includes('QUIET-42'), 'the shell to answer again');
    expect(c.last.bytes - after).toBeLessThan(4096);
    expect(rtPeak! - rtBase).toBeLessThan(60 * 1024);
    expect(clientPeak! - clientBase).toBeLessThan(60 * 1024);
  });

  it('20: a reader that never reads (raw socket) → the runtime pauses the PTY; memory bounded', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: agentCmd('flood.mjs', '-1') }));
    const baseline = rssKiB(rt.proc.pid!);
    // A raw socket that completes the upgrade and then never reads again.
    const sock = net.connect(Number(new URL(rt.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write(
      `GET /connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        `Authorization: Bearer ${rt.token}\r\n\r\n`,
    );
    await new Promise<void>((resolve) => sock.once('data', () => resolve()));
    sock.pause();
    // Four seconds of stall, on purpose: memory is what this measures.
    const [peak] = await peakRssKiB([rt.proc.pid!], 4000);
    // The flood would be hundreds of MB in 4 s; paused, the runtime holds a few MiB at most.
    expect(peak! - baseline).toBeLessThan(60 * 1024);
    // The PTY is really paused: the agent's output stops advancing while the reader stalls
    // (half a second on purpose: a running flood would write megabytes in it).
    const before = await logTail(rt);
    await elapse(500);
    expect(await logTail(rt)).toBe(before);
    console.log(`stalled reader: runtime VmRSS baseline ${baseline} KiB, peak ${peak} KiB`);
    sock.destroy();
    // After the stalled client goes away, the agent runs free again (log keeps growing).
    const c = new TestClient(rt);
    await c.opened;
    await waitFor(() => c.bytes > 10 * 1024 * 1024, 'the flood to continue after the stall', { timeoutMs: 30_000 });
  });

  it('20: a SIGSTOPped client while the agent floods → PTY paused, memory bounded, then everything delivered', async ({ startRuntime }) => {
    const records = 4_000_000; // 64 MB: far more than socket buffers plus the relay's high-water mark
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: agentCmd('flood.mjs', String(records)) }));
    const baseline = rssKiB(rt.proc.pid!);
    const c = streamClient(rt);
    await c.hello();
    await waitFor(() => c.last.bytes > 1024 * 1024, 'some output');
    c.proc.kill('SIGSTOP');
    // Let the pipes fill, then the log must stop growing: the PTY is paused, the agent blocked
    // (the same tail 300 ms apart).
    let before = await logTail(rt);
    await waitFor(async () => {
      const now = await logTail(rt);
      const same = now === before;
      before = now;
      return same;
    }, 'the agent to be paused', { timeoutMs: 20_000, everyMs: 300 });
    // Two seconds of stall, on purpose: memory is what this measures.
    const [peak] = await peakRssKiB([rt.proc.pid!], 2000);
    expect(await logTail(rt)).toBe(before);
    console.log(`20: SIGSTOPped client: runtime VmRSS baseline ${baseline} KiB, peak ${peak} KiB`);
    expect(peak! - baseline).toBeLessThan(60 * 1024);
    c.proc.kill('SIGCONT');
    await waitFor(() => c.last.bytes === records * 16, 'everything delivered after SIGCONT', { timeoutMs: 60_000, everyMs: 50 });
    expect(c.last.sha256).toBe(sha256(floodBytes(records)));
  });

  it('21: a garbage text frame closes 1008, an oversized frame 1009; the runtime keeps serving and the agent survives', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const a = new TestClient(rt);
    await a.opened;
    await a.waitForText('READY');
    a.send('{"type":"nope"}');
    expect(await a.closed).toBe(CloseCode.invalidFrame);
    const b = new TestClient(rt);
    await b.opened;
    await b.waitForHello();
    b.send(Buffer.alloc(MAX_FRAME_BYTES + 1, 0x61));
    expect(await b.closed).toBe(CloseCode.tooBig);
    const c = new TestClient(rt);
    await c.opened;
    c.send(Buffer.from('alive?'));
    await c.waitForText('alive?');
  });


  it('22: heartbeats keep a live client through idle periods; a dead peer (never answers pings) is detected and dropped', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload({ CATTY_HEARTBEAT_INTERVAL_MS: '150' }));
    const live = new TestClient(rt); // ws answers pings by itself
    await live.opened;
    // A raw peer that completes the upgrade, reads everything, and never answers a ping.
    const sock = net.connect(Number(new URL(rt.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    const dead = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.on('data', () => undefined);
    sock.on('error', () => undefined);
    sock.write(
      `GET /connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        `Authorization: Bearer ${rt.token}\r\n\r\n`,
    );
    const t0 = Date.now();
    await dead;
    expect(Date.now() - t0).toBeLessThan(5000);
    // The raw peer took over (newest wins), so the live client was replaced, not timed out.
    expect(live.closeCode).toBe(CloseCode.replaced);
    const again = new TestClient(rt);
    await again.opened;
    await elapse(600); // on purpose: four heartbeat periods
    expect(again.closeCode).toBeNull();
    again.send(Buffer.from('ping-ok'));
    await again.waitForText('ping-ok');
  });

  it('23: a network cut mid-stream, again and again → resume with no lost and no duplicated bytes (checksum)', async ({ startRuntime }) => {
    const records = 200_000; // 3.2 MB, inside the 8 MiB log
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: agentCmd('flood.mjs', String(records)) }));
    const expected = floodBytes(records);
    const received: Buffer[] = [];
    let have = 0;
    let drops = 0;
    while (have < expected.length) {
      const c = new TestClient(rt, have === 0 ? {} : { offset: have });
      // Cut the connection (no close handshake) as soon as ~700 KB more have arrived.
      const target = Math.min(expected.length, have + 700_000);
      c.ws.on('message', () => {
        if (have + c.bytes >= target && target < expected.length) c.ws.terminate();
      });
      await c.opened;
      const hello = await c.waitForHello();
      expect(hello.offset).toBe(have);
      expect(hello.screen).toBeUndefined();
      await waitFor(() => have + c.bytes >= target || c.closeCode !== null, 'some output', { timeoutMs: 20_000 });
      await c.drop();
      received.push(c.output());
      have += c.bytes;
      drops += 1;
    }
    const all = Buffer.concat(received);
    expect(all.length).toBe(expected.length);
    expect(sha256(all)).toBe(sha256(expected));
    expect(drops).toBeGreaterThan(2);
  });


  it('24: reconnecting after the session ended gets a clear "session ended" (exit message, 4001), no retry loop', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload({ CATTY_EXIT_LINGER_MS: '60000' }));
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    c.send(Buffer.from('exit 7\r'));
    expect(await c.closed).toBe(CloseCode.sessionEnded);
    expect(c.ofType('exit')).toEqual([{ type: 'exit', code: 7, signal: null }]);
    const late = new TestClient(rt);
    expect(await late.closed).toBe(CloseCode.sessionEnded);
    expect(late.hello()?.agentRunning).toBe(false);
    expect(late.text()).toContain('READY');
    expect(late.ofType('exit')).toEqual([{ type: 'exit', code: 7, signal: null }]);
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as { agent: string; exitCode: number };
    expect(health).toMatchObject({ agent: 'exited', exitCode: 7 });
  });


  it('25: a second client takes over (newest wins); the first is told why (error `replaced`, 4000)', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const first = new TestClient(rt);
    await first.opened;
    await first.waitForText('READY');
    const second = new TestClient(rt);
    await second.opened;
    expect(await first.closed).toBe(CloseCode.replaced);
    expect(first.closeReason).toMatch(/replaced/);
    expect(first.ofType('error')[0]?.code).toBe('replaced');
    second.send(Buffer.from('still-here'));
    await second.waitForText('still-here');
  });

});

/**
 * 23–25 with the real `catty connect` (in-process) against the real runtime: a fake control
 * plane (tests/helpers/cli-fake-api.ts) hands out connect info pointing at a fault proxy in front
 * of the runtime, so the test can cut the network under the CLI.
 */
describe('SECURITY.md 23–25: the real CLI against the real runtime', () => {
  const LABEL = 'steady-heron-0023';
  type StartRuntime = (options: StartOptions) => Promise<RuntimeProcess>;
  async function setup(startRuntime: StartRuntime, agent: string, env: Record<string, string> = {}): Promise<{ rt: RuntimeProcess; proxy: FaultProxy; home: string; api: FakeApi }> {
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: agent, ...env }));
    const proxy = await startFaultProxy(Number(new URL(rt.url).port));
    onCleanup(() => proxy.close());
    const api = await FakeApi.start({ connectUrl: `http://127.0.0.1:${proxy.port}`, connectToken: rt.token });
    onCleanup(() => api.close());
    api.addSession({ label: LABEL });
    const home = tempDir('sec-cli');
    loginTo(home, api);
    return { rt, proxy, home, api };
  }
  const connect = (home: string, api: FakeApi) =>
    startCli(['connect', LABEL, '--no-sync-back'], { home, env: { CATTY_API_URL: api.url, CATTY_RECONNECT_BASE_MS: '10' } });

  it('23: (catty connect) the network cut under the CLI again and again → output continues, no lost and no duplicated bytes', async ({ startRuntime }) => {
    const records = 150_000; // 2.4 MB over ~4 s
    const { proxy, home, api } = await setup(startRuntime, agentCmd('ticker.mjs', String(records), '200', '5'));
    const expected = floodBytes(records);
    const run = connect(home, api);
    let cuts = 0;
    let cutting = true;
    const cutter = (async () => {
      while (cutting) {
        await elapse(100 + Math.random() * 250); // on purpose: cuts at random moments
        if (cutting && proxy.cut() > 0) cuts += 1;
      }
    })();
    await waitFor(() => run.stdout.buffer.length >= expected.length, 'the whole stream through the CLI', { timeoutMs: 60_000 });
    cutting = false;
    await cutter;
    run.stdin.write('\x1d'); // Ctrl-]: detach
    expect(await run.code).toBe(0);
    console.log(`23 (CLI): ${cuts} cuts, ${run.stdout.buffer.length} bytes`);
    expect(cuts).toBeGreaterThanOrEqual(5);
    expect(sha256(run.stdout.buffer)).toBe(sha256(expected));
  });

  it('24: (catty connect) reconnecting after the session ended → "session ended" and the exit code at once, no retry loop', async ({ startRuntime }) => {
    const { rt, proxy, home, api } = await setup(startRuntime, agentCmd('echo.mjs'), { CATTY_EXIT_LINGER_MS: '60000' });
    const first = connect(home, api);
    await waitFor(() => first.stdout.text.includes('READY'), 'the agent');
    first.stdin.write('exit 3\r');
    expect(await first.code).toBe(3);
    const acceptedBefore = proxy.stats().accepted;
    const t0 = Date.now();
    const again = connect(home, api);
    const code = await again.code;
    console.log(`24 (CLI): reconnect after the end: exit ${code} in ${Date.now() - t0} ms; stderr ${JSON.stringify(again.stderr.text.slice(-200))}`);
    expect([3, 4]).toContain(code);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(proxy.stats().accepted - acceptedBefore).toBeLessThanOrEqual(2);
    expect(again.stdout.text + again.stderr.text).toMatch(/ended|exited/);
    expect((await (await fetch(`${rt.url}/healthz`)).json()) as { agent: string }).toMatchObject({ agent: 'exited' });
  });

  it('25: (catty connect) a second CLI takes over; the first is told why and does not fight back', async ({ startRuntime }) => {
    const { proxy, home, api } = await setup(startRuntime, agentCmd('echo.mjs'));
    const first = connect(home, api);
    await waitFor(() => first.stdout.text.includes('READY'), 'the agent');
    const second = connect(home, api);
    expect(await first.code).toBe(255);
    expect(first.stderr.text).toContain('another client took over');
    second.stdin.write('still-here');
    await waitFor(() => second.stdout.text.includes('still-here'), 'the second CLI to work');
    const accepted = proxy.stats().accepted;
    // On purpose: time for a reconnect the first left behind (its base delay is 10 ms) to show.
    await elapse(500);
    second.stdin.write('-and-again');
    await waitFor(() => second.stdout.text.includes('still-here-and-again'), 'the second CLI to keep working');
    expect(proxy.stats().accepted).toBe(accepted); // nobody connected meanwhile
    second.stdin.write('\x1d');
    expect(await second.code).toBe(0);
  });
});
