/**
 * The built catty-session with real PTYs and WebSockets: round trip, resize, exit codes, auth,
 * logs. Takeover, bad frames, heartbeats and late clients (SECURITY.md 19–25) are in
 * tests/security/terminal.test.ts.
 */
import { describe, expect } from 'vitest';
import { CloseCode } from '../../session-runtime/wire/protocol.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, floodBytes, type StartOptions } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';

/** A runtime that takes no upload (its agent starts at once); echo.mjs unless `env` says. */
const noUpload = (env: Record<string, string> = {}): StartOptions => ({ env: { CATTY_NO_UPLOAD: '1', ...env } });

describe('catty-session terminal relay', () => {
  it('serves healthz and refuses a wrong token on connect, logs and snapshot', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const health = (await (await fetch(`${rt.url}/healthz`)).json()) as { ok: boolean; agent: string };
    expect(health.ok).toBe(true);
    const bad = new TestClient(rt, {}, 'wrong-token');
    await expect(bad.opened).rejects.toThrow();
    expect(bad.rejectedStatus).toBe(401);
    expect((await fetch(`${rt.url}/logs`)).status).toBe(401);
    expect((await fetch(`${rt.url}/snapshot`, { method: 'POST', headers: { authorization: 'Bearer wrong-token' } })).status).toBe(401);
    // This runtime has no API to store snapshots in: asking for one is refused, not hung.
    const none = await fetch(`${rt.url}/snapshot`, { method: 'POST', headers: { authorization: `Bearer ${rt.token}` } });
    expect(none.status).toBe(409);
    expect(await none.json()).toMatchObject({ error: { code: 'no_snapshots' } });
  });

  it('round-trips keystrokes and reports the size the client asked for', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const c = new TestClient(rt, { cols: 100, rows: 30 });
    await c.opened;
    await c.waitForText('READY');
    c.send(Buffer.from('hello'));
    await c.waitForText('hello');
    c.send(Buffer.from('\rsize\r'));
    await c.waitForText('SIZE 100x30');
    expect(c.hello()).toMatchObject({ type: 'hello', protocol: 1, agentRunning: true, cols: 100, rows: 30 });
  });

  it('resizes the PTY on a resize message (the agent sees SIGWINCH and the new size)', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    c.control({ type: 'resize', cols: 132, rows: 43 });
    await c.waitForText('RESIZED 132x43');
    c.send(Buffer.from('size\r'));
    await c.waitForText('SIZE 132x43');
  });

  it('reports a signal death with code null and the signal number', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload());
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    c.send(Buffer.from('kill SIGKILL\r'));
    expect(await c.closed).toBe(CloseCode.sessionEnded);
    expect(c.ofType('exit')).toEqual([{ type: 'exit', code: null, signal: 9 }]);
  });

  it('GET /logs returns the tail of the output', async ({ startRuntime }) => {
    const rt = await startRuntime(noUpload({ CATTY_AGENT_CMD: agentCmd('flood.mjs', '10000') }));
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
