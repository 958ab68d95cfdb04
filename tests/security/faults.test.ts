/**
 * SECURITY.md 34–36: faults, quick forms (the long ones are in tests/faults/). The built
 * catty-api with the local provisioner stores snapshots in an S3 server (s3rver) reached through
 * a fault proxy (tests/helpers/fault-proxy.ts): presigned URLs point at the proxy, so the
 * runtime's PUTs can be stalled or refused.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedSession, DownloadInfo } from '../../api/contract/schemas.js';
import { type TestApi } from '../helpers/api.js';
import { RouteError } from '../../api/contract/client.js';
import type { FaultProxy } from '../helpers/fault-proxy.js';
import { startApiWithFaultyStorage, type FaultyStorageApi } from '../helpers/faulty-storage.js';
import { runtimeFetch, sessionWs, TestClient } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { routes } from '../../api/contract/routes.js';

let setup: FaultyStorageApi | undefined;
let proxy: FaultProxy;
let api: TestApi;
beforeAll(async () => {
  setup = await startApiWithFaultyStorage(1500);
  ({ proxy, api } = setup);
}, 120_000);
afterAll(() => setup?.close());

const SHELL = 'exec bash --norc --noprofile -i';

/** The latest recorded snapshot once `ok` accepts it. */
function latestSnapshot(label: string, ok: (info: DownloadInfo) => boolean = () => true, timeoutMs = 30_000): Promise<DownloadInfo> {
  return waitFor(async () => {
    try {
      const info = await api.client.call(routes.download, { params: { ref: label } });
      return ok(info) ? info : null;
    } catch (err) {
      if (err instanceof RouteError && err.code === 'no_snapshot') return null;
      throw err;
    }
  }, 'a recorded snapshot', { timeoutMs, everyMs: 100 });
}

/** Downloads a snapshot, checks its sha256, and returns the tar stream as text. */
async function fetchSnapshot(info: DownloadInfo): Promise<string> {
  const body = Buffer.from(await (await fetch(info.url)).arrayBuffer());
  expect(body.length).toBe(info.size);
  expect(createHash('sha256').update(body).digest('hex')).toBe(info.sha256);
  return gunzipSync(body).toString('latin1');
}

async function startShellSession(files: Record<string, string>): Promise<{ s: CreatedSession; c: TestClient }> {
  const s = await api.client.call(routes.createSession, { body: { cmd: SHELL } });
  const zip = buildZip(Object.entries(files).map(([name, data]) => ({ name, data })));
  const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(zip) });
  expect(up.status).toBe(200);
  const c = new TestClient(sessionWs(s));
  await c.opened;
  return { s, c };
}

/** Types a command into the shell and waits for its computed marker (not the echoed text). */
async function shell(c: TestClient, command: string, n: number): Promise<void> {
  c.send(Buffer.from(`${command}; echo MARK-$((${n}+1000))\r`));
  await c.waitForText(`MARK-${n + 1000}`, 20_000);
}

function runtimePid(sessionId: string): number {
  return (JSON.parse(readFileSync(join(api.dataDir, 'machines', sessionId, 'machine.json'), 'utf8')) as { runtimePid: number }).runtimePid;
}

describe('SECURITY.md 34–36: faults', () => {
  it('34: the runtime killed (-9) during a snapshot upload → the previous snapshot stays the latest and downloads intact', async () => {
    const { s, c } = await startShellSession({ 'v1.txt': 'version one\n' });
    const first = await latestSnapshot(s.label);
    expect(await fetchSnapshot(first)).toContain('version one\n');
    proxy.stall();
    try {
      // A new file makes the next snapshot differ; the stalled proxy holds its PUT in flight.
      await shell(c, 'head -c 2000000 /dev/urandom > big.bin; echo two > v2.txt', 1);
      await waitFor(() => proxy.stats().heldBytes > 0, 'the snapshot PUT to be in flight', { timeoutMs: 20_000, everyMs: 20 });
      process.kill(runtimePid(s.id), 'SIGKILL');
      await c.closed;
    } finally {
      proxy.pass();
    }
    const after = await api.client.call(routes.download, { params: { ref: s.label } });
    expect(after.sha256).toBe(first.sha256);
    const tar = await fetchSnapshot(after);
    expect(tar).toContain('version one\n');
    expect(tar).not.toContain('v2.txt');
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });

  it('35: the API restarted while sessions run → they keep running and reconnect; a machine that died meanwhile is marked lost', async () => {
    const survivor = await api.client.call(routes.createSession, { body: { cmd: SHELL, upload: false } });
    const victim = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    const c1 = new TestClient(sessionWs(survivor));
    await c1.opened;
    await shell(c1, 'echo before-restart', 1);
    const oldPid = api.pid;

    // The API dies hard (SIGKILL) and comes back on the same data dir; then a runtime dies
    // without reporting and the API restarts again: reconciliation must notice.
    await api.restart();
    expect(api.pid).not.toBe(oldPid);
    expect((await api.client.call(routes.getSession, { params: { ref: victim.label } })).status).toBe('running');
    process.kill(runtimePid(victim.id), 'SIGKILL');
    await api.restart();

    const listed = (await api.client.call(routes.listSessions)).sessions;
    expect(listed.find((s) => s.id === survivor.id)?.status).toBe('running');
    expect(listed.find((s) => s.id === victim.id)).toMatchObject({ status: 'stopped', detail: 'machine lost' });
    await expect(api.client.call(routes.connect, { params: { ref: victim.label } })).rejects.toMatchObject({ status: 409 });

    // The terminal never noticed; a reconnect through fresh connect info resumes exactly.
    expect(c1.closeCode).toBeNull();
    await c1.drop();
    const info = await api.client.call(routes.connect, { params: { ref: survivor.label } });
    expect(info).toEqual({ connectUrl: survivor.connectUrl, socketPath: survivor.socketPath, connectToken: survivor.connectToken });
    const c2 = new TestClient(sessionWs(info), { offset: c1.bytes });
    await c2.opened;
    expect((await waitFor(() => c2.hello(), 'hello')).offset).toBe(c1.bytes);
    await shell(c2, 'echo after-restart', 2);
    const all = Buffer.concat([c1.output(), c2.output()]).toString('utf8');
    expect(all.match(/MARK-1001/g)?.length).toBe(1);
    // The runtime still reaches the restarted API: an upload-free session snapshots its changes.
    await shell(c2, 'echo still here > after-restart.txt', 3);
    const snap = await latestSnapshot(survivor.label);
    expect(await fetchSnapshot(snap)).toContain('still here\n');
    expect((await api.client.call(routes.stop, { params: { ref: survivor.label } })).status).toBe('stopped');
  });

  it('36: storage unavailable during a snapshot → retried with backoff; the session keeps working; stored afterwards', { timeout: 90_000 }, async () => {
    const { s, c } = await startShellSession({ 'v1.txt': 'version one\n' });
    const first = await latestSnapshot(s.label);
    proxy.refuse();
    let retries: number[] = [];
    try {
      const before = proxy.stats().accepted;
      await shell(c, 'echo two > v2.txt', 1);
      // Four attempts per snapshot (0.5, 1, 2 s apart), then again next interval.
      await waitFor(() => proxy.stats().accepted - before >= 4, 'snapshot retries against refused storage', { timeoutMs: 30_000, everyMs: 50 }).catch((err: unknown) => {
        console.log(JSON.stringify({ ...proxy.stats(), before }));
        throw err;
      });
      retries = proxy.stats().acceptedAtMs.slice(before);
      // Meanwhile the terminal works.
      await shell(c, 'echo still-typing', 2);
      expect((await api.client.call(routes.download, { params: { ref: s.label } })).sha256).toBe(first.sha256);
    } finally {
      proxy.pass();
    }
    const gaps = retries.slice(1, 4).map((t, i) => t - retries[i]!);
    console.log(`36: retry gaps against refused storage: ${gaps.join(', ')} ms`);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]! * 1.4); // backoff, not a fixed period
    expect(gaps[2]!).toBeGreaterThan(gaps[1]! * 1.4);
    const second = await latestSnapshot(s.label, (info) => info.sha256 !== first.sha256);
    expect(await fetchSnapshot(second)).toContain('two\n');
    await shell(c, 'echo after-outage', 3);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  });
});
