/**
 * The real thing: built catty-api, SQLite file, embedded S3, local provisioner spawning real
 * catty-session processes (under bubblewrap when present).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x as untar } from 'tar';
import { ApiCallError, startTestApi, type TestApi, poll } from '../helpers/api.js';
import { buildZip } from '../helpers/runtime-zip.js';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1500', CATTY_API_HEARTBEAT_INTERVAL_MS: '1000' } });
}, 60_000);
afterAll(async () => {
  await api?.close();
});


describe('session lifecycle against real runtimes', () => {
  it('create → upload → snapshot recorded → stop → download tarball whose sha256 matches', async () => {
    const s = await api.client.createSession({ cmd: 'echo started; sleep 600' });
    expect(s.status).toBe('running');
    expect(s.connectUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const zip = buildZip([{ name: 'hello.txt', data: 'hello from the laptop\n' }, { name: 'src/main.py', data: 'print(1)\n', deflate: true }]);
    const up = await fetch(`${s.connectUrl}/upload?cols=80&rows=24`, { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: zip });
    expect(up.status).toBe(200);

    const info = await poll('a recorded snapshot', async () => {
      try {
        return await api.client.download(s.label);
      } catch (err) {
        if (err instanceof ApiCallError && err.code === 'no_snapshot') return null;
        throw err;
      }
    });
    expect(info.size).toBeGreaterThan(0);

    const stopped = await api.client.stop(s.label);
    expect(stopped.status).toBe('stopped');
    expect((await api.client.getSession(s.id)).status).toBe('stopped');
    await expect(api.client.connect(s.label)).rejects.toMatchObject({ status: 409, code: 'session_ended' });
    // the connect token died with the runtime
    await expect(fetch(`${s.connectUrl}/healthz`)).rejects.toThrow();

    const files = await snapshotFiles(await api.client.download(s.label));
    expect(files.get('hello.txt')).toBe('hello from the laptop\n');
    expect(files.get('src/main.py')).toBe('print(1)\n');

    // logs of an ended session are the stored final logs (possibly empty), never an error
    await api.client.logs(s.label);
    await api.client.deleteSession(s.label);
    await expect(api.client.getSession(s.label)).rejects.toMatchObject({ status: 404 });
  });

  it('agent exit → runtime reports → session stopped with the exit code', async () => {
    const s = await api.client.createSession({ cmd: 'echo bye; exit 7', upload: false });
    const ended = await poll('the session to end', async () => {
      const got = await api.client.getSession(s.label);
      return got.status === 'running' ? null : got;
    });
    expect(ended).toMatchObject({ status: 'stopped', exitCode: 7 });
    expect((await api.client.logs(s.label)).toString()).toContain('bye');
  });
});

/** The files of a downloaded snapshot, by path; checks its size and sha256 on the way. */
async function snapshotFiles(info: { url: string; size: number; sha256: string }): Promise<Map<string, string>> {
  const res = await fetch(info.url);
  expect(res.status).toBe(200);
  const tarball = Buffer.from(await res.arrayBuffer());
  expect(tarball.length).toBe(info.size);
  expect(createHash('sha256').update(tarball).digest('hex')).toBe(info.sha256);
  const dest = mkdtempSync(join(tmpdir(), 'catty-dl-'));
  try {
    const file = join(dest, 'snap.tar.gz');
    writeFileSync(file, tarball);
    const files = new Map<string, string>();
    await untar({ file, cwd: dest, onReadEntry: (entry) => void (entry.type === 'File' && files.set(entry.path, '')) });
    for (const name of files.keys()) files.set(name, readFileSync(join(dest, name), 'utf8'));
    return files;
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}

describe('download of a running session', () => {
  let slow: TestApi;
  beforeAll(async () => {
    // The schedule's first snapshot would come after 200 s: any snapshot here is the download's.
    slow = await startTestApi({ runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '600000' } });
  }, 60_000);
  afterAll(async () => {
    await slow?.close();
  });

  it('takes a snapshot now, so it holds what the workspace holds; an unchanged workspace stores none', async () => {
    const s = await slow.client.createSession({ cmd: 'echo from the agent > agent.txt; sleep 600' });
    const zip = buildZip([{ name: 'hello.txt', data: 'hello from the laptop\n' }]);
    const up = await fetch(`${s.connectUrl}/upload?cols=80&rows=24`, { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: zip });
    expect(up.status).toBe(200);

    // Each download asks for a snapshot; the agent writes agent.txt right after the upload. The
    // shell creates the file before it writes to it, so a snapshot may hold it still empty.
    const { info, files } = await poll('a download with the agent\'s file', async () => {
      const got = await slow.client.download(s.label);
      const inside = await snapshotFiles(got);
      return inside.get('agent.txt') === 'from the agent\n' ? { info: got, files: inside } : null;
    });
    expect(files.get('hello.txt')).toBe('hello from the laptop\n');
    expect(files.get('agent.txt')).toBe('from the agent\n');

    const again = await slow.client.download(s.label);
    expect(again.sha256).toBe(info.sha256);
    expect(again.createdAt).toBe(info.createdAt);
    await slow.client.stop(s.label);
  });
});
