/**
 * The runtime's peak memory (VmHWM) through a whole session life — upload, terminal output,
 * sync-back, snapshots with their callbacks, heartbeats — stays within the 100 MB budget the
 * soak enforces (tests/soak/run.mjs). The soak found the first API callback (global fetch,
 * which loads undici on first use) adding ~20 MB at once; callbacks now use node:http.
 */
import fs from 'node:fs';
import { describe, expect } from 'vitest';
import { RUNTIME_NODE_OPTIONS } from '../../session-runtime/wire/runtime-env.js';
import { onCleanup } from '../helpers/cleanup.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, upload } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { startFakeRuntimeApi } from '../helpers/s3.js';
import { waitFor } from '../helpers/wait.js';

const RUNTIME_PEAK_LIMIT_KIB = 100 * 1024;
const hwmKiB = (pid: number): number => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

describe('catty-session memory', () => {
  it('peak RSS stays under 100 MB through upload, output, sync-back, snapshots and callbacks', async ({ startRuntime }) => {
    const api = await startFakeRuntimeApi();
    onCleanup(() => api.stop());
    const rt = await startRuntime({
      env: { ...api.env(), CATTY_AGENT_CMD: agentCmd('files.mjs'), CATTY_SNAPSHOT_INTERVAL_MS: '1500', CATTY_API_HEARTBEAT_INTERVAL_MS: '500', NODE_OPTIONS: RUNTIME_NODE_OPTIONS },
    });
    expect((await upload(rt, buildZip([{ name: 'README.md', data: '# hi\n' }, { name: 'src/a.ts', data: 'export {};\n', deflate: true }]))).status).toBe(200);
    const c = new TestClient(rt);
    await c.opened;
    c.control({ type: 'sync_back', enabled: true });
    await c.waitForText('READY');
    for (let i = 0; i < 3; i++) {
      c.send(Buffer.from(`burst out${i} 200\r`));
      await c.waitForText(`OK ${i + 1}`);
      await waitFor(() => api.snapshots.length > i, `snapshot ${i + 1}`, { timeoutMs: 20_000 });
    }
    await waitFor(() => api.heartbeats.length > 1, 'heartbeats');
    const peak = hwmKiB(rt.proc.pid!);
    console.log(`runtime VmHWM after a session's worth of work: ${peak} KiB`);
    expect(peak).toBeLessThan(RUNTIME_PEAK_LIMIT_KIB);
  });
});
