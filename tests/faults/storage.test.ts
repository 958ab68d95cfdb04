/**
 * Storage faults between the runtime and S3 (SECURITY.md 36, long forms): the fake callbacks API
 * (tests/helpers/s3.ts) presigns URLs that point at a fault proxy in front of s3rver.
 *   - storage refusing every connection for a minute: snapshots retry with backoff, the terminal
 *     keeps answering, and the next snapshot after the outage is stored and intact;
 *   - a storage connection that goes silent mid-PUT (a black hole: no data, no reset) is
 *     abandoned after CATTY_STORAGE_TIMEOUT_MS and the snapshot retried on a new connection.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, upload, type RuntimeProcess, type StartOptions } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { startFakeRuntimeApi, type FakeRuntimeApi } from '../helpers/s3.js';
import { elapse, waitFor } from '../helpers/wait.js';

type StartRuntime = (options: StartOptions) => Promise<RuntimeProcess>;

async function setup(startRuntime: StartRuntime, env: Record<string, string>): Promise<{ api: FakeRuntimeApi; proxy: FaultProxy; rt: RuntimeProcess; c: TestClient }> {
  let proxyPort = 0;
  const api = await startFakeRuntimeApi({ storagePort: () => proxyPort });
  onCleanup(() => api.stop());
  const proxy = await startFaultProxy(Number(new URL(api.s3.endpoint).port));
  proxyPort = proxy.port;
  onCleanup(() => proxy.close());
  const rt = await startRuntime({ env: { ...api.env(), CATTY_AGENT_CMD: agentCmd('files.mjs'), ...env } });
  expect((await upload(rt, buildZip([{ name: 'README.md', data: '# project\n' }]))).status).toBe(200);
  const c = new TestClient(rt);
  await c.opened;
  await c.waitForText('READY');
  return { api, proxy, rt, c };
}

/** Runs a files.mjs command and returns how long the terminal took to answer. */
async function run(c: TestClient, command: string): Promise<number> {
  const t0 = Date.now();
  const before = (c.text().match(/OK \d+/g) ?? []).length;
  c.send(Buffer.from(`${command}\r`));
  await waitFor(() => (c.text().match(/OK \d+/g) ?? []).length > before, `agent to run ${command}`, { timeoutMs: 20_000, everyMs: 5 });
  return Date.now() - t0;
}
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function snapshotText(api: FakeRuntimeApi, index: number): Promise<string> {
  const report = api.snapshots[index]!;
  const body = await api.s3.getObject(report.key);
  expect(body.length).toBe(report.size);
  expect(createHash('sha256').update(body).digest('hex')).toBe(report.sha256);
  return gunzipSync(body).toString('latin1');
}

describe('storage faults', () => {
  it('storage unreachable for a minute → snapshots retry with backoff, the terminal keeps working, and succeed afterwards', async ({ startRuntime }) => {
    const { api, proxy, c } = await setup(startRuntime, { CATTY_SNAPSHOT_INTERVAL_MS: '5000' });
    await waitFor(() => api.snapshots.length === 1, 'the first snapshot', { timeoutMs: 30_000 });
    proxy.refuse();
    const outageStart = Date.now();
    const before = proxy.stats().accepted;
    let slowest = 0;
    let n = 0;
    while (Date.now() - outageStart < 60_000) {
      n += 1;
      slowest = Math.max(slowest, await run(c, `write notes/n${n}.txt ${b64(`note ${n}\n`)}`));
      await elapse(2000); // on purpose: the writes are spread over the whole outage
    }
    const attempts = proxy.stats().acceptedAtMs.slice(before);
    expect(api.snapshots).toHaveLength(1); // nothing recorded while storage was down
    proxy.pass();
    await waitFor(() => api.snapshots.length === 2, 'a snapshot after the outage', { timeoutMs: 30_000, everyMs: 100 });
    const recoveredMs = Date.now() - outageStart - 60_000;
    const tar = await snapshotText(api, 1);
    expect(tar).toContain(`note ${n}\n`);
    // Attempts came in rounds (one per interval) of four, spaced 0.5, 1, 2 s: backoff.
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    console.log(`storage outage: ${attempts.length} refused attempts, gaps ${gaps.join(',')} ms; terminal slowest answer ${slowest} ms; stored ${recoveredMs} ms after the outage`);
    expect(attempts.length).toBeGreaterThanOrEqual(8);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]! * 1.4);
    expect(gaps[2]!).toBeGreaterThan(gaps[1]! * 1.4);
    expect(slowest).toBeLessThan(2000);
    expect(recoveredMs).toBeLessThan(20_000);
  });

  it('a storage connection gone silent mid-PUT (black hole) is abandoned and the snapshot retried', async ({ startRuntime }) => {
    const { api, proxy, rt, c } = await setup(startRuntime, { CATTY_SNAPSHOT_INTERVAL_MS: '3000', CATTY_STORAGE_TIMEOUT_MS: '3000' });
    await waitFor(() => api.snapshots.length === 1, 'the first snapshot', { timeoutMs: 30_000 });
    proxy.stall();
    await run(c, 'big big.bin 3000000');
    await waitFor(() => proxy.stats().heldBytes > 0, 'the snapshot PUT to be in flight', { timeoutMs: 20_000, everyMs: 20 });
    // The route dies without a reset: that connection never moves again; new ones work.
    proxy.blackholeOpen();
    const t0 = Date.now();
    await waitFor(() => api.snapshots.length === 2, 'the snapshot to be retried on a new connection', { timeoutMs: 40_000, everyMs: 100 });
    console.log(`black-holed PUT abandoned and retried: stored after ${Date.now() - t0} ms`);
    expect(rt.stderr()).toMatch(/snapshot attempt 1 failed \(storage silent for 3000 ms\)/);
    expect(await snapshotText(api, 1)).toContain('big.bin');
    expect(await run(c, `write after.txt ${b64('after\n')}`)).toBeLessThan(2000);
  });
});
