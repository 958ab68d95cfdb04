/**
 * kill -9 of the runtime while a snapshot PUT is half way (SECURITY.md 34, long form): the built
 * catty-api (local provisioner, bubblewrap when available) stores snapshots in s3rver behind a
 * fault proxy throttled to 1 MB/s, so a 4 MB snapshot is in flight for seconds. The runtime is
 * SIGKILLed with part of it sent; the previous snapshot must stay the latest and download intact.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DownloadInfo } from '../../api/contract/schemas.js';
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
  setup = await startApiWithFaultyStorage(2000);
  ({ proxy, api } = setup);
}, 120_000);
afterAll(() => setup?.close());

async function latest(label: string): Promise<DownloadInfo | null> {
  try {
    return await api.client.call(routes.download, { params: { ref: label } });
  } catch (err) {
    if (err instanceof RouteError && err.code === 'no_snapshot') return null;
    throw err;
  }
}

describe('runtime killed mid-upload', () => {
  it('kill -9 with a snapshot PUT half sent → the previous snapshot is still the latest and downloads intact (sha256)', async () => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'exec bash --norc --noprofile -i' } });
    const zip = buildZip([{ name: 'v1.txt', data: 'version one\n' }]);
    expect((await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(zip) })).status).toBe(200);
    const first = await waitFor(() => latest(s.label), 'the first snapshot', { timeoutMs: 30_000, everyMs: 100 });
    proxy.throttle(1024 * 1024);
    const sentBefore = proxy.stats().bytesToUpstream;
    const c = new TestClient(sessionWs(s));
    await c.opened;
    // 4 MB of random bytes: the tarball stays ~4 MB, four seconds at 1 MB/s.
    c.send(Buffer.from('head -c 4000000 /dev/urandom > big.bin; echo DONE-$((1+1))\r'));
    await c.waitForText('DONE-2');
    await waitFor(() => proxy.stats().bytesToUpstream - sentBefore > 1024 * 1024, 'a megabyte of the PUT sent', { timeoutMs: 30_000, everyMs: 10 });
    const runtimePid = (JSON.parse(readFileSync(join(api.dataDir, 'machines', s.id, 'machine.json'), 'utf8')) as { runtimePid: number }).runtimePid;
    process.kill(runtimePid, 'SIGKILL');
    const sent = proxy.stats().bytesToUpstream - sentBefore;
    await c.closed;
    proxy.throttle(0);
    console.log(`runtime SIGKILLed with ${sent} bytes of a ~4 MB snapshot sent`);
    expect(sent).toBeLessThan(4_000_000);
    const after = await latest(s.label);
    expect(after?.sha256).toBe(first.sha256);
    const body = Buffer.from(await (await fetch(after!.url)).arrayBuffer());
    expect(body.length).toBe(first.size);
    expect(createHash('sha256').update(body).digest('hex')).toBe(first.sha256);
    const tar = gunzipSync(body).toString('latin1');
    expect(tar).toContain('version one\n');
    expect(tar).not.toContain('big.bin');
    // Once the API notices the machine is gone, the snapshot is still the one served.
    await api.client.call(routes.stop, { params: { ref: s.label } }).catch(() => undefined);
    expect((await latest(s.label))?.sha256).toBe(first.sha256);
  });
});
