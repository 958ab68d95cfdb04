/**
 * The API restarted (SIGKILL, same data dir) three times while three sessions stream output
 * (SECURITY.md 35, long form): every session keeps running, its terminal connection never
 * notices, the output is byte-exact at the end, and each session is reconnectable through fresh
 * connect info after the restarts and still snapshots to the new API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedSession } from '../../api/contract/schemas.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { RouteError } from '../../api/contract/client.js';
import { TestClient, floodBytes, sessionWs, sha256 } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';
import { routes } from '../../api/contract/routes.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '2000' } });
}, 120_000);
afterAll(async () => {
  await api?.close();
});

// 20,000 records of "<15-digit n>|" in 200 bursts ~0.1 s apart (printf is a shell builtin).
const RECORDS = 20_000;
const STREAM = `for b in $(seq 0 199); do for i in $(seq $((b*100)) $((b*100+99))); do printf '%015d|' $i; done; sleep 0.1; done; echo > streamed.txt; sleep 600`;

describe('API restart under load', () => {
  it('three sessions streaming through three API restarts: running, connections intact, output byte-exact, reconnectable', async () => {
    const sessions: CreatedSession[] = [];
    for (let i = 0; i < 3; i++) sessions.push(await api.client.call(routes.createSession, { body: { cmd: STREAM, upload: false } }));
    const clients = sessions.map((s) => new TestClient(sessionWs(s)));
    await Promise.all(clients.map((c) => c.opened));
    await waitFor(() => clients.every((c) => c.bytes > 0), 'output from every session', { timeoutMs: 30_000 });
    for (let r = 0; r < 3; r++) {
      const before = clients.map((c) => c.bytes);
      await api.restart();
      for (const s of sessions) expect((await api.client.call(routes.getSession, { params: { ref: s.label } })).status).toBe('running');
      // Output keeps flowing between restarts.
      await waitFor(() => clients.every((c, i) => c.bytes > before[i]! || c.bytes === RECORDS * 16), 'more output after a restart', { timeoutMs: 30_000 });
    }
    expect(clients.map((c) => c.closeCode)).toEqual([null, null, null]);
    // Reconnect each through fresh connect info, half way through what it has, and compare.
    const expected = floodBytes(RECORDS);
    for (const [i, s] of sessions.entries()) {
      const c = clients[i]!;
      await waitFor(() => c.bytes >= RECORDS * 16, `session ${i} to finish streaming`, { timeoutMs: 60_000 });
      expect(sha256(c.output())).toBe(sha256(expected));
      await c.drop();
      const info = await api.client.call(routes.connect, { params: { ref: s.label } });
      const half = Math.floor(expected.length / 2);
      const again = new TestClient(sessionWs(info), { offset: half });
      await again.opened;
      await waitFor(() => again.bytes >= expected.length - half, 'the replay', { timeoutMs: 30_000 });
      expect(sha256(again.output().subarray(0, expected.length - half))).toBe(sha256(expected.subarray(half)));
      // The runtime reaches the restarted API: the file written after the stream is snapshotted.
      const snap = await waitFor(async () => {
        try {
          return await api.client.call(routes.download, { params: { ref: s.label } });
        } catch (err) {
          if (err instanceof RouteError && err.code === 'no_snapshot') return null;
          throw err;
        }
      }, 'a snapshot after the restarts', { timeoutMs: 30_000, everyMs: 200 });
      expect(snap.size).toBeGreaterThan(0);
      await again.close();
      expect((await api.client.call(routes.stop, { params: { ref: s.label } })).status).toBe('stopped');
    }
  });
});
