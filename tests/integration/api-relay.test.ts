/**
 * One endpoint for the laptop: with CATTY_PUBLIC_URL set, connectUrl points at the API, which
 * relays upload, logs and connect to the session's runtime. Built catty-api, local
 * provisioner, real runtimes running fixture agents that came in through the relayed upload.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceLogin, startTestApi, type TestApi } from '../helpers/api.js';
import { cliEnv } from '../helpers/cli.js';
import { saveLogin } from '../helpers/credentials.js';
import { freeLoopbackPort } from '../helpers/loopback.js';
import { FIXTURE_AGENTS } from '../helpers/paths.js';
import { PtyProcess } from '../helpers/pty.js';
import { TestClient, floodBytes, peakRssKiB, rssKiB, runtimeFetch, sha256 } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';
import { elapse, waitFor } from '../helpers/wait.js';
import { routes } from '../../api/contract/routes.js';

let api: TestApi;

beforeAll(async () => {
  // The public URL must be the API's own address, so pick the port first.
  const port = await freeLoopbackPort();
  api = await startTestApi({ env: { CATTY_API_LISTEN: `127.0.0.1:${port}`, CATTY_PUBLIC_URL: `http://127.0.0.1:${port}` } });
}, 60_000);
afterAll(async () => {
  await api?.close();
});

const fixture = (name: string): Buffer => readFileSync(join(FIXTURE_AGENTS, name));
// Random (incompressible, so the runtime's zip-bomb ratio check has nothing to say) and above
// the API's 1 MiB JSON body limit, which must not apply to relayed uploads.
const BIG_FILE = randomBytes(3 * 1024 * 1024);

/** POSTs `zip` to `{connectUrl}/upload` chunked (no Content-Length), as the CLI streams it. */
function uploadChunked(connectUrl: string, token: string, zip: Buffer, query = '?cols=100&rows=30'): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${connectUrl}/upload${query}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/zip' } });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    for (let i = 0; i < zip.length; i += 64 * 1024) req.write(zip.subarray(i, i + 64 * 1024));
    req.end();
  });
}

const wsOf = (s: { connectUrl: string; connectToken: string }) => ({ wsUrl: s.connectUrl.replace(/^http/, 'ws'), token: s.connectToken });

/** A session whose agent is a fixture that arrives with its (relayed) upload. Flooding agents
 * start writing as soon as the upload lands, so attach `client` first when every byte counts. */
async function sessionWith(agent: string, args: string[] = [], attach = false) {
  const s = await api.client.call(routes.createSession, { body: { cmd: `exec node ${agent} ${args.join(' ')}` } });
  const client = attach ? new TestClient(wsOf(s)) : null;
  if (client) await client.opened;
  const up = await uploadChunked(s.connectUrl, s.connectToken, buildZip([{ name: agent, data: fixture(agent) }]));
  expect(up.status).toBe(200);
  return { ...s, client };
}

/** The runtime itself, as the API reaches it (its socket in the machine's directory), and its pid. */
const runtimeOf = (id: string) => {
  const record = JSON.parse(readFileSync(join(api.dataDir, 'machines', id, 'machine.json'), 'utf8')) as { runtimeUrl: string; runtimeSocket: string; runtimePid: number };
  return { url: record.runtimeUrl, socketPath: record.runtimeSocket, runtimePid: record.runtimePid };
};
/** What TestClient needs to open the runtime's own /connect, past the relay. */
const directWs = (id: string, token: string) => ({ wsUrl: runtimeOf(id).url.replace(/^http/, 'ws'), socketPath: runtimeOf(id).socketPath, token });

describe('the API relays upload, logs and connect', () => {
  it('hands out a connectUrl on the API, and relays a streamed upload with the runtime’s answers', async () => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'exec node echo.mjs' } });
    expect(s.connectUrl).toBe(`${api.url}/v1/sessions/${s.id}/runtime`);
    // The runtime's socket is the API host's business: a laptop reaching the API gets none.
    expect(s.socketPath).toBeUndefined();
    expect((await api.client.call(routes.connect, { params: { ref: s.label } })).connectUrl).toBe(s.connectUrl);
    const zip = buildZip([{ name: 'echo.mjs', data: fixture('echo.mjs') }, { name: 'big.bin', data: BIG_FILE }]);

    // A wrong token is refused by the API: nothing reaches the runtime (whose upload is once-only).
    // A small body: the API answers and closes at once, so writing a big one races its answer
    // (EPIPE before the response, seen in 3 of 6 runs).
    const tiny = buildZip([{ name: 'a.txt', data: 'a' }]);
    const refused = await uploadChunked(s.connectUrl, 'cat_ct_wrong', tiny);
    expect(refused).toEqual({ status: 401, json: { error: { code: 'unauthorized', message: expect.any(String) } } });
    const noSuch = await uploadChunked(`${api.url}/v1/sessions/${'0'.repeat(24)}/runtime`, s.connectToken, tiny);
    expect(noSuch.status).toBe(404);

    const up = await uploadChunked(s.connectUrl, s.connectToken, zip);
    expect(up).toEqual({ status: 200, json: { ok: true, files: 2, bytes: BIG_FILE.length + fixture('echo.mjs').length } });
    // The runtime's own refusal passes through with its status and body. (A small body: the
    // runtime closes right after refusing, so a big one races its answer, relayed or not.)
    const again = await fetch(`${s.connectUrl}/upload`, { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(tiny) });
    const direct = await runtimeFetch(runtimeOf(s.id), '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(tiny) });
    expect(again.status).toBe(409);
    expect(again.status).toBe(direct.status);
    expect(await again.json()).toEqual(await direct.json());

    // logs through the relay
    const logs = await waitFor(async () => {
      const res = await fetch(`${s.connectUrl}/logs`, { headers: { authorization: `Bearer ${s.connectToken}` } });
      const text = Buffer.from(await res.arrayBuffer()).toString();
      return res.status === 200 && text.includes('READY') ? text : null;
    }, 'READY in the relayed logs');
    expect(logs).toContain('READY');
    expect((await fetch(`${s.connectUrl}/logs`, { method: 'DELETE', headers: { authorization: `Bearer ${s.connectToken}` } })).status).toBe(405);
    // The agent's branches (catty git): relayed like logs; a workspace without .git is the runtime's 404.
    const bundle = await fetch(`${s.connectUrl}/git-bundle?max=1000`, { headers: { authorization: `Bearer ${s.connectToken}` } });
    expect(bundle.status).toBe(404);
    expect(await bundle.json()).toMatchObject({ error: { code: 'no_git' } });
    expect((await fetch(`${s.connectUrl}/git-bundle`, { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}` } })).status).toBe(405);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });

  it('relays the terminal: refusals before the upgrade, hello, echo, resize, takeover (4000) and the end (4001)', async () => {
    const s = await sessionWith('echo.mjs');
    const bad = new TestClient({ ...wsOf(s), token: 'cat_ct_wrong' });
    await expect(bad.opened).rejects.toThrow();
    expect(bad.rejectedStatus).toBe(401);
    const unknown = new TestClient({ wsUrl: `${api.url.replace(/^http/, 'ws')}/v1/sessions/${'f'.repeat(24)}/runtime`, token: s.connectToken });
    await expect(unknown.opened).rejects.toThrow();
    expect(unknown.rejectedStatus).toBe(404);
    // The runtime's own 400 (invalid query) passes through.
    const badQuery = new TestClient(wsOf(s), { cols: 0 });
    await expect(badQuery.opened).rejects.toThrow();
    expect(badQuery.rejectedStatus).toBe(400);

    const c1 = new TestClient(wsOf(s), { cols: 90, rows: 20 });
    await c1.opened;
    const hello = await waitFor(() => c1.hello(), 'hello through the relay');
    expect(hello).toMatchObject({ agentRunning: true, cols: 90, rows: 20, offset: 0 });
    await c1.waitForText('READY');
    c1.send(Buffer.from('héllo\r'));
    await c1.waitForText('héllo');
    c1.send(Buffer.from('size\r'));
    await c1.waitForText('SIZE 90x20');
    c1.control({ type: 'resize', cols: 132, rows: 43 });
    await c1.waitForText('RESIZED 132x43');

    // A second client with the first one's offset takes over: the first hears 4000 and why.
    const offset = c1.bytes;
    const c2 = new TestClient(wsOf(s), { offset, cols: 132, rows: 43 });
    await c2.opened;
    expect(await c1.closed).toBe(4000);
    expect(c1.closeReason).not.toBe('');
    const hello2 = await waitFor(() => c2.hello(), 'hello on resume');
    expect(hello2.offset).toBe(offset);
    expect(hello2.screen).toBeUndefined();
    c2.send(Buffer.from('exit 3\r'));
    expect(await c2.closed).toBe(4001);
    expect(c2.ofType('exit')).toEqual([{ type: 'exit', code: 3, signal: null }]);
    // Byte-exact: what c2 got continues exactly where c1 stopped.
    expect(c2.text().startsWith('exit 3')).toBe(true);

    // Once the session has ended, the relay refuses before upgrading.
    await waitFor(async () => (await api.client.call(routes.getSession, { params: { ref: s.id } })).status !== 'running', 'the session to end', { timeoutMs: 30_000, everyMs: 100 });
    const late = new TestClient(wsOf(s));
    await expect(late.opened).rejects.toThrow();
    expect(late.rejectedStatus).toBe(409);
  });

  it('closes with 1009 for an oversized frame and passes the runtime’s 1008; the agent survives', async () => {
    const s = await sessionWith('echo.mjs');
    const big = new TestClient(wsOf(s));
    await big.opened;
    await waitFor(() => big.hello(), 'hello');
    big.send(Buffer.alloc(5 * 1024 * 1024)); // above MAX_FRAME_BYTES (4 MiB)
    expect(await big.closed).toBe(1009);
    const bad = new TestClient(wsOf(s));
    await bad.opened;
    await waitFor(() => bad.hello(), 'hello');
    bad.send('{"type":"no-such-message"}'); // the runtime refuses it: 1008 with its reason
    expect(await bad.closed).toBe(1008);
    expect(bad.closeReason).not.toBe('');
    const ok = new TestClient(wsOf(s));
    await ok.opened;
    ok.send(Buffer.from('still-here'));
    await ok.waitForText('still-here');
    await ok.close();
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });

  it('survives an API restart: the relayed client is dropped and resumes through the new API', async () => {
    const s = await sessionWith('echo.mjs');
    const before = new TestClient(wsOf(s));
    await before.opened;
    await before.waitForText('READY'); // raw mode is on: no tty echo racing the agent's own
    before.send(Buffer.from('one'));
    await before.waitForText('one');
    await api.restart(); // SIGKILL: the relayed socket just drops, as in a crash
    expect(await before.closed).toBe(1006);
    const after = new TestClient(wsOf(s), { offset: before.bytes });
    await after.opened;
    expect((await waitFor(() => after.hello(), 'hello')).offset).toBe(before.bytes);
    after.send(Buffer.from('two'));
    await after.waitForText('two');
    expect(after.text()).toBe('two');
    await after.close();
    await api.client.call(routes.stop, { params: { ref: s.label } });
  }, 90_000);

  it('answers 502 (transient for the CLI) when a running session’s runtime is unreachable', async () => {
    const s = await sessionWith('echo.mjs');
    process.kill(runtimeOf(s.id).runtimePid, 'SIGKILL');
    await waitFor(async () => (await runtimeFetch(runtimeOf(s.id), '/healthz').catch(() => null)) === null, 'the runtime to be gone');
    const c = new TestClient(wsOf(s));
    await expect(c.opened).rejects.toThrow();
    expect(c.rejectedStatus).toBe(502);
    const logs = await fetch(`${s.connectUrl}/logs`, { headers: { authorization: `Bearer ${s.connectToken}` } });
    expect(logs.status).toBe(502);
    expect(await logs.json()).toMatchObject({ error: { code: 'runtime_unreachable' } });
    await api.client.call(routes.stop, { params: { ref: s.label } }).catch(() => undefined);
  });

  it('resumes byte-exact through the relay after dropped connections', async () => {
    const records = 200_000; // 3.2 MB, inside the runtime's 8 MiB log
    const s = await sessionWith('flood.mjs', [String(records)]);
    const expected = floodBytes(records);
    const received: Buffer[] = [];
    let have = 0;
    let drops = 0;
    while (have < expected.length) {
      const c = new TestClient(wsOf(s), have === 0 ? {} : { offset: have });
      const target = Math.min(expected.length, have + 700_000);
      c.ws.on('message', () => {
        if (have + c.bytes >= target && target < expected.length) c.ws.terminate();
      });
      await c.opened;
      expect((await waitFor(() => c.hello(), 'hello')).offset).toBe(have);
      await waitFor(() => have + c.bytes >= target || c.closeCode !== null, 'some output', { timeoutMs: 30_000 });
      await c.drop();
      received.push(c.output());
      have += c.bytes;
      drops += 1;
    }
    expect(sha256(Buffer.concat(received))).toBe(sha256(expected));
    expect(drops).toBeGreaterThan(2);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });

  it('keeps memory bounded for a stalled reader, then delivers everything (checksum) and 4001', async () => {
    const records = 1_500_000; // 24 MB: far more than the runtime's log or the relay's buffers
    // No `exit` after the flood: the runtime can lose the last PTY bytes when the agent exits
    // right after writing them (node-pty's exit can beat its final data); `q` ends it instead.
    const s = await sessionWith('flood.mjs', [String(records)], true);
    const { runtimePid } = runtimeOf(s.id);
    const c = s.client!;
    await waitFor(() => c.bytes > 256 * 1024, 'the flood to start');
    const baseline = { api: rssKiB(api.pid), runtime: rssKiB(runtimePid) };
    c.ws.pause(); // stop reading: the client's socket fills, then the relay's, then the runtime's
    // Four seconds of stall, on purpose: memory is what this measures.
    const [apiPeak, runtimePeak] = await peakRssKiB([api.pid, runtimePid], 4000);
    const peak = { api: apiPeak!, runtime: runtimePeak! };
    const logTail = async () => Buffer.from(await (await fetch(`${s.connectUrl}/logs`, { headers: { authorization: `Bearer ${s.connectToken}` } })).arrayBuffer()).toString('latin1');
    const before = await logTail();
    // On purpose: half a second in which a running agent would have written more.
    await elapse(500);
    // The agent is paused end to end: its output stopped advancing while we did not read.
    expect(await logTail()).toBe(before);
    expect(before.endsWith(String(records - 1).padStart(15, '0') + '|')).toBe(false);
    console.log(`stalled reader via relay: API VmRSS ${baseline.api}→${peak.api} KiB, runtime ${baseline.runtime}→${peak.runtime} KiB`);
    expect(peak.api - baseline.api).toBeLessThan(60 * 1024);
    expect(peak.runtime - baseline.runtime).toBeLessThan(60 * 1024);

    c.ws.resume();
    await waitFor(() => c.bytes >= records * 16, 'the whole flood', { timeoutMs: 120_000, everyMs: 50 });
    expect(c.bytes).toBe(records * 16);
    expect(sha256(c.output())).toBe(sha256(floodBytes(records)));
    c.send(Buffer.from('q'));
    expect(await c.closed).toBe(4001);
    expect(c.closeReason).toBe('session ended');
    expect(c.ofType('exit')).toEqual([{ type: 'exit', code: 0, signal: null }]);
  }, 180_000);
});

describe('the built catty through the relay', () => {
  it('new uploads, attaches, echoes and exits with the agent’s code, all via the API', async () => {
    const home = tempDir('relay-home');
    const project = tempDir('relay-project');
    writeFileSync(join(project, 'echo.mjs'), fixture('echo.mjs'));
    mkdirSync(join(project, 'src'));
    writeFileSync(join(project, 'src', 'big.bin'), BIG_FILE);
    const tokens = await deviceLogin(api.url, api.email, api.password);
    saveLogin(home, { apiUrl: api.url, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresInSec: tokens.expires_in });
    const relayedConnections = () => api.output().split('relay: connected').length - 1;
    const before = relayedConnections();
    const cli = PtyProcess.catty(['new', '--cmd', 'exec node echo.mjs', '--no-sync-back'], { cwd: project, env: cliEnv(home, { CATTY_API_URL: api.url }), cols: 80, rows: 24 });
    await cli.waitForOutput('READY', 60_000);
    cli.write('through-the-relay');
    await cli.waitForOutput('through-the-relay', 15_000);
    cli.write('\rexit 5\r');
    expect(await cli.waitForExit()).toBe(5);
    // The CLI knew only connectUrl, which is the API's: echo.mjs ran, so the upload went through
    // the relay, and the API logged the relayed terminal.
    expect(relayedConnections()).toBeGreaterThan(before);
  }, 120_000);
});

describe('the cost of the relay (measured, printed)', () => {
  /** MiB/s from the upload's answer (the agent starts) to the last byte, attached first. */
  async function floodRate(direct: boolean, records: number): Promise<number> {
    const s = await api.client.call(routes.createSession, { body: { cmd: `exec node flood.mjs ${records}` } });
    const c = new TestClient(direct ? directWs(s.id, s.connectToken) : wsOf(s));
    await c.opened;
    expect((await uploadChunked(s.connectUrl, s.connectToken, buildZip([{ name: 'flood.mjs', data: fixture('flood.mjs') }]))).status).toBe(200);
    const started = performance.now();
    await waitFor(() => c.bytes >= records * 16, 'the whole flood', { timeoutMs: 120_000, everyMs: 5 });
    const rate = c.bytes / 1024 / 1024 / ((performance.now() - started) / 1000);
    expect(c.bytes).toBe(records * 16);
    await api.client.call(routes.stop, { params: { ref: s.label } });
    return rate;
  }

  async function echoLatencyMs(base: { wsUrl: string; token: string; socketPath?: string }, rounds: number): Promise<number> {
    const c = new TestClient(base);
    await c.opened;
    await c.waitForText('READY');
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const before = c.bytes;
      const t0 = performance.now();
      c.send(Buffer.from('x'));
      await waitFor(() => c.bytes > before, 'the echo', { timeoutMs: 10_000, everyMs: 0 });
      times.push(performance.now() - t0);
    }
    await c.close();
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  }

  /** MiB/s of a replay of `bytes` already in the runtime's log: the transport alone. */
  async function replayRate(base: { wsUrl: string; token: string; socketPath?: string }, bytes: number): Promise<number> {
    const c = new TestClient(base, { offset: 0 });
    const started = performance.now();
    await c.opened;
    await waitFor(() => c.bytes >= bytes, 'the replay', { timeoutMs: 60_000, everyMs: 2 });
    const rate = c.bytes / 1024 / 1024 / ((performance.now() - started) / 1000);
    await c.close();
    return rate;
  }

  it('replay throughput (transport only), relay vs direct', async () => {
    const records = 500_000; // 8,000,000 bytes: all of it stays in the runtime's 8 MiB log
    const s = await sessionWith('flood.mjs', [String(records)]);
    await waitFor(async () => {
      const res = await fetch(`${s.connectUrl}/logs`, { headers: { authorization: `Bearer ${s.connectToken}` } });
      return Buffer.from(await res.arrayBuffer()).toString('latin1').endsWith(`${String(records - 1).padStart(15, '0')}|`);
    }, 'the flood to finish', { timeoutMs: 60_000, everyMs: 100 });
    const direct = directWs(s.id, s.connectToken);
    const best = { relay: 0, direct: 0 };
    for (let i = 0; i < 3; i++) {
      best.direct = Math.max(best.direct, await replayRate(direct, records * 16));
      best.relay = Math.max(best.relay, await replayRate(wsOf(s), records * 16));
    }
    console.log(`relay cost: replay of 8 MB from the runtime's log, best of 3: ${best.relay.toFixed(0)} MiB/s via the API vs ${best.direct.toFixed(0)} MiB/s direct`);
    expect(best.relay).toBeGreaterThan(0);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  }, 180_000);

  it('throughput of a flood and echo latency, relay vs direct', async () => {
    const records = 1_000_000; // 16 MB
    const relayRate = await floodRate(false, records);
    const directRate = await floodRate(true, records);

    const echo = await sessionWith('echo.mjs');
    const relayMs = await echoLatencyMs(wsOf(echo), 200);
    const directMs = await echoLatencyMs(directWs(echo.id, echo.connectToken), 200);
    console.log(
      `relay cost: flood ${relayRate.toFixed(1)} MiB/s via the API vs ${directRate.toFixed(1)} MiB/s direct; ` +
        `echo median ${relayMs.toFixed(2)} ms via the API vs ${directMs.toFixed(2)} ms direct`,
    );
    expect(relayRate).toBeGreaterThan(0);
    await api.client.call(routes.stop, { params: { ref: echo.label } });
  }, 300_000);
});
