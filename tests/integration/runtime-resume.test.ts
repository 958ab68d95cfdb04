/**
 * Resume and flow control: byte-exact resume after a dropped socket, screen restore when the
 * offset fell out of the log, and bounded memory with a stalled reader.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, agentCmd, floodBytes, rssKiB, sha256, startRuntime, waitFor, type RuntimeProcess } from '../helpers/runtime.js';

const running: RuntimeProcess[] = [];
async function start(env: Record<string, string>): Promise<RuntimeProcess> {
  const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', ...env } });
  running.push(rt);
  return rt;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((rt) => rt.stop()));
});

describe('catty-session resume', () => {
  it('resumes after dropped sockets with exactly the bytes missed (checksum of everything)', async () => {
    const records = 200_000; // 3.2 MB, inside the 8 MiB log
    const rt = await start({ CATTY_AGENT_CMD: agentCmd('flood.mjs', String(records)) });
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
      const hello = await waitFor(() => c.hello(), 'hello');
      expect(hello.offset).toBe(have);
      expect(hello.screen).toBeUndefined();
      await waitFor(() => have + c.bytes >= target || c.closeCode !== null, 'some output', 20_000);
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

  it('restores the screen when the client offset is older than the log', async () => {
    // 1,000,000 records = 16 MB: the first bytes are long gone from the 8 MiB log.
    const rt = await start({ CATTY_AGENT_CMD: agentCmd('flood.mjs', '1000000') });
    await waitFor(async () => {
      const res = await fetch(`${rt.url}/logs`, { headers: rt.headers() });
      return Buffer.from(await res.arrayBuffer()).toString('latin1').endsWith('000000000999999|');
    }, 'the flood to finish', 60_000, 100);
    const c = new TestClient(rt, { offset: 5 });
    await c.opened;
    const hello = await waitFor(() => c.hello(), 'hello');
    expect(hello.offset).toBe(16_000_000);
    expect(hello.screen).toBeDefined();
    // The serialized screen shows the last records the agent wrote.
    expect(hello.screen).toContain('000000000999999|');
    // A brand-new client (no offset) with history beyond the log gets a screen too.
    const fresh = new TestClient(rt);
    await fresh.opened;
    const freshHello = await waitFor(() => fresh.hello(), 'hello');
    expect(freshHello.screen).toContain('000000000999999|');
    // Live output continues after the screen.
    fresh.send(Buffer.from('x'));
    await waitFor(() => fresh.closeCode === null, 'still open');
  });

  it('pauses the agent for a stalled reader and keeps runtime memory bounded', async () => {
    const rt = await start({ CATTY_AGENT_CMD: agentCmd('flood.mjs', '-1') });
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
    let peak = 0;
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      peak = Math.max(peak, rssKiB(rt.proc.pid!));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The flood would be hundreds of MB in 4 s; paused, the runtime holds a few MiB at most.
    expect(peak - baseline).toBeLessThan(60 * 1024);
    // The PTY is really paused: the agent's output stops advancing while the reader stalls.
    const tail = async (): Promise<string> => Buffer.from(await (await fetch(`${rt.url}/logs`, { headers: rt.headers() })).arrayBuffer()).toString('latin1');
    const before = await tail();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await tail()).toBe(before);
    console.log(`stalled reader: runtime VmRSS baseline ${baseline} KiB, peak ${peak} KiB`);
    sock.destroy();
    // After the stalled client goes away, the agent runs free again (log keeps growing).
    const c = new TestClient(rt);
    await c.opened;
    await waitFor(() => c.bytes > 10 * 1024 * 1024, 'the flood to continue after the stall', 30_000);
  });
});
