/** SECURITY.md 35: the API restarts while sessions run → they keep running and reconnect. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError, startTestApi, type TestApi } from '../helpers/api.js';
import { buildZip } from '../helpers/runtime-zip.js';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1500' } });
}, 60_000);
afterAll(async () => {
  await api?.close();
});

async function poll<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('API restart', () => {
  it('running sessions stay running and connectable; a machine that died meanwhile is marked lost', async () => {
    const survivor = await api.client.createSession({ cmd: 'sleep 600' });
    const victim = await api.client.createSession({ cmd: 'sleep 600', upload: false });
    const victimRecord = JSON.parse(readFileSync(join(api.dataDir, 'machines', victim.id, 'machine.json'), 'utf8')) as { runtimePid: number };
    const oldPid = api.pid;

    // the API dies hard (SIGKILL) and comes back on the same data dir; then a runtime dies
    // without reporting and the API restarts again: reconciliation must notice
    await api.restart();
    expect(api.pid).not.toBe(oldPid);
    expect((await api.client.getSession(victim.label)).status).toBe('running');
    process.kill(victimRecord.runtimePid, 'SIGKILL');
    await api.restart();

    const listed = await api.client.listSessions();
    expect(listed.find((s) => s.id === survivor.id)?.status).toBe('running');
    expect(listed.find((s) => s.id === victim.id)).toMatchObject({ status: 'stopped', detail: 'machine lost' });
    await expect(api.client.connect(victim.label)).rejects.toMatchObject({ status: 409 });

    const info = await api.client.connect(survivor.label);
    expect(info).toEqual({ connectUrl: survivor.connectUrl, connectToken: survivor.connectToken });
    const health = await fetch(`${info.connectUrl}/healthz`);
    expect(health.status).toBe(200);
    // the runtime still reaches the restarted API: an upload after the restart gets snapshotted
    const up = await fetch(`${info.connectUrl}/upload`, { method: 'POST', headers: { authorization: `Bearer ${info.connectToken}`, 'content-type': 'application/zip' }, body: buildZip([{ name: 'after-restart.txt', data: 'still here\n' }]) });
    expect(up.status).toBe(200);
    const snap = await poll('a snapshot after the restart', async () => {
      try {
        return await api.client.download(survivor.label);
      } catch (err) {
        if (err instanceof ApiCallError && err.code === 'no_snapshot') return null;
        throw err;
      }
    });
    expect(snap.size).toBeGreaterThan(0);
    expect((await api.client.stop(survivor.label)).status).toBe('stopped');
  });
});
