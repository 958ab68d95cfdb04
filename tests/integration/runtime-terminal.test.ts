/**
 * The built catty-session with real PTYs and WebSockets: round trip, resize, exit codes,
 * takeover, invalid and oversized frames, auth, logs.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, MAX_FRAME_BYTES } from '../../session-runtime/protocol.js';
import { TestClient, agentCmd, floodBytes, startRuntime, waitFor, type RuntimeProcess } from '../helpers/runtime.js';

const running: RuntimeProcess[] = [];
async function start(env: Record<string, string> = {}): Promise<RuntimeProcess> {
  const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', ...env } });
  running.push(rt);
  return rt;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((rt) => rt.stop()));
});

describe('catty-session terminal relay', () => {
  it('serves healthz and refuses a wrong token on connect and logs', async () => {
    const rt = await start();
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as { ok: boolean; agent: string };
    expect(health.ok).toBe(true);
    const bad = new TestClient(rt, {}, 'wrong-token');
    await expect(bad.opened).rejects.toThrow();
    expect(bad.rejectedStatus).toBe(401);
    expect((await fetch(`${rt.url}/logs`)).status).toBe(401);
  });

  it('round-trips keystrokes and reports the size the client asked for', async () => {
    const rt = await start();
    const c = new TestClient(rt, { cols: 100, rows: 30 });
    await c.opened;
    await c.waitForText('READY');
    c.send(Buffer.from('hello'));
    await c.waitForText('hello');
    c.send(Buffer.from('\rsize\r'));
    await c.waitForText('SIZE 100x30');
    expect(c.hello()).toMatchObject({ type: 'hello', protocol: 1, agentRunning: true, cols: 100, rows: 30 });
  });

  it('resizes the PTY on a resize message (the agent sees SIGWINCH and the new size)', async () => {
    const rt = await start();
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    c.control({ type: 'resize', cols: 132, rows: 43 });
    await c.waitForText('RESIZED 132x43');
    c.send(Buffer.from('size\r'));
    await c.waitForText('SIZE 132x43');
  });

  it('reports the exit code, closes with 4001, and tells late clients the same', async () => {
    const rt = await start({ CATTY_EXIT_LINGER_MS: '60000' });
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

  it('reports a signal death with code null and the signal number', async () => {
    const rt = await start();
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    c.send(Buffer.from('kill SIGKILL\r'));
    expect(await c.closed).toBe(CloseCode.sessionEnded);
    expect(c.ofType('exit')).toEqual([{ type: 'exit', code: null, signal: 9 }]);
  });

  it('a newer client takes over: the old one gets an error and 4000 with a reason', async () => {
    const rt = await start();
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

  it('closes 1008 on a garbage text frame and 1009 on an oversized frame; the agent survives', async () => {
    const rt = await start();
    const a = new TestClient(rt);
    await a.opened;
    await a.waitForText('READY');
    a.send('{"type":"nope"}');
    expect(await a.closed).toBe(CloseCode.invalidFrame);
    const b = new TestClient(rt);
    await b.opened;
    await waitFor(() => b.hello(), 'hello');
    b.send(Buffer.alloc(MAX_FRAME_BYTES + 1, 0x61));
    expect(await b.closed).toBe(CloseCode.tooBig);
    const c = new TestClient(rt);
    await c.opened;
    c.send(Buffer.from('alive?'));
    await c.waitForText('alive?');
  });

  it('GET /logs returns the tail of the output', async () => {
    const rt = await start({ CATTY_AGENT_CMD: agentCmd('flood.mjs', '10000') });
    // 10,000 records of 16 bytes = 160,000 bytes written; the tail is the last 64 KiB of them.
    const text = await waitFor(async () => {
      const res = await fetch(`${rt.url}/logs`, { headers: rt.headers() });
      const body = Buffer.from(await res.arrayBuffer()).toString('latin1');
      return body.endsWith('000000000009999|') ? body : null;
    }, 'the whole flood in the log tail');
    expect(text.length).toBe(64 * 1024);
    expect(floodBytes(10_000).subarray(-64 * 1024).toString('latin1')).toBe(text);
  });
});

describe('catty-session heartbeats', () => {
  it('keeps a client that answers pings and drops a peer that does not', async () => {
    const rt = await start({ CATTY_HEARTBEAT_INTERVAL_MS: '150' });
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
    await new Promise((resolve) => setTimeout(resolve, 600)); // four heartbeat periods
    expect(again.closeCode).toBeNull();
    again.send(Buffer.from('ping-ok'));
    await again.waitForText('ping-ok');
  });
});
