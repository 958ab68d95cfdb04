/**
 * Snapshots through the built catty-session against s3rver and a fake callbacks API with real
 * presigned URLs: taken, skipped when unchanged, content correct, final one on SIGTERM.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { describe, expect } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, snapshotNow, upload, type RuntimeProcess, type StartOptions } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { startFakeRuntimeApi, type FakeRuntimeApi } from '../helpers/s3.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

type StartRuntime = (options: StartOptions) => Promise<RuntimeProcess>;

async function setup(startRuntime: StartRuntime, env: Record<string, string> = {}): Promise<{ api: FakeRuntimeApi; rt: RuntimeProcess; c: TestClient }> {
  const api = await startFakeRuntimeApi();
  onCleanup(() => api.stop());
  const rt = await startRuntime({ env: { ...api.env(), CATTY_AGENT_CMD: agentCmd('files.mjs'), CATTY_SNAPSHOT_INTERVAL_MS: '1500', ...env } });
  const zip = buildZip([
    { name: 'README.md', data: '# project\n' },
    { name: '.git/HEAD', data: 'ref: refs/heads/main\n' },
    { name: 'src/index.ts', data: 'export {};\n' },
    { name: 'node_modules/dep/index.js', data: 'module.exports = 1;\n' },
  ]);
  expect((await upload(rt, zip)).status).toBe(200);
  const c = new TestClient(rt);
  await c.opened;
  await c.waitForText('READY');
  return { api, rt, c };
}

/** Downloads a reported snapshot, checks size and sha256, and extracts it to a temp dir. */
async function fetchSnapshot(api: FakeRuntimeApi, index: number): Promise<string> {
  const report = api.snapshots[index]!;
  const body = await api.s3.getObject(report.key);
  expect(body.length).toBe(report.size);
  expect(createHash('sha256').update(body).digest('hex')).toBe(report.sha256);
  const dir = tempDir('snap-check');
  fs.writeFileSync(path.join(dir, 'snap.tar.gz'), body);
  fs.mkdirSync(path.join(dir, 'out'));
  await tar.x({ file: path.join(dir, 'snap.tar.gz'), cwd: path.join(dir, 'out') });
  return path.join(dir, 'out');
}

async function run(c: TestClient, command: string): Promise<void> {
  const before = (c.text().match(/OK \d+/g) ?? []).length;
  c.send(Buffer.from(`${command}\r`));
  await waitFor(() => (c.text().match(/OK \d+/g) ?? []).length > before, `agent to run ${command}`);
}

describe('catty-session snapshots', () => {
  it('takes a snapshot with the right content, skips unchanged, and snapshots again after a change', async ({ startRuntime }) => {
    const { api, rt, c } = await setup(startRuntime);
    await waitFor(() => api.snapshots.length === 1, 'the first snapshot');
    const out = await fetchSnapshot(api, 0);
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).toBe('# project\n');
    expect(fs.readFileSync(path.join(out, '.git/HEAD'), 'utf8')).toBe('ref: refs/heads/main\n');
    expect(fs.existsSync(path.join(out, 'src/index.ts'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'node_modules'))).toBe(false);
    // Two more snapshots (asked for now, not waited for) with nothing changed: no new presign,
    // no new upload.
    expect(await snapshotNow(rt)).toBe('unchanged');
    expect(await snapshotNow(rt)).toBe('unchanged');
    expect(api.presigns).toHaveLength(1);
    expect(api.snapshots).toHaveLength(1);
    await run(c, `write src/new.ts ${Buffer.from('export const x = 1;\n').toString('base64')}`);
    await waitFor(() => api.snapshots.length === 2, 'a snapshot after the change');
    const out2 = await fetchSnapshot(api, 1);
    expect(fs.readFileSync(path.join(out2, 'src/new.ts'), 'utf8')).toBe('export const x = 1;\n');
    expect(api.heartbeats.length).toBe(0); // default API heartbeat period is 30 s
  });

  it('takes a final snapshot on SIGTERM and reports logs and exit, then exits 0', async ({ startRuntime }) => {
    const { api, rt, c } = await setup(startRuntime, { CATTY_SNAPSHOT_INTERVAL_MS: '600000', CATTY_API_HEARTBEAT_INTERVAL_MS: '200' });
    await run(c, `write last-words.txt ${Buffer.from('bye').toString('base64')}`);
    await waitFor(() => api.heartbeats.length > 0, 'an API heartbeat');
    expect(api.heartbeats[0]).toMatchObject({ clients: 1 });
    expect(api.snapshots).toHaveLength(0);
    rt.proc.kill('SIGTERM');
    expect(await rt.exited).toBe(0);
    expect(await c.closed).toBe(4001);
    expect(api.snapshots).toHaveLength(1);
    const out = await fetchSnapshot(api, 0);
    expect(fs.readFileSync(path.join(out, 'last-words.txt'), 'utf8')).toBe('bye');
    expect(api.logs).toHaveLength(1);
    expect(Buffer.from(api.logs[0]!.data, 'base64').toString()).toContain('OK 1');
    expect(api.exits).toHaveLength(1);
  });

  it('reports the exit, final snapshot and logs when the agent exits on its own', async ({ startRuntime }) => {
    const { api, c } = await setup(startRuntime, { CATTY_SNAPSHOT_INTERVAL_MS: '600000' });
    api.failPresigns(2); // storage trouble: retried with backoff
    c.send(Buffer.from('exit 5\r'));
    expect(await c.closed).toBe(4001);
    await waitFor(() => api.exits.length === 1, 'the exit callback');
    expect(api.exits[0]).toEqual({ code: 5, signal: null });
    expect(api.snapshots).toHaveLength(1);
    expect(api.presigns).toHaveLength(1);
    expect(api.logs).toHaveLength(1);
  });
});
