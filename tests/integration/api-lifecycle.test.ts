/**
 * The real thing: built catty-api, SQLite file, embedded S3, local provisioner spawning real
 * catty-session processes (under bubblewrap when present).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { x as untar } from 'tar';
import { RouteError } from '../../api/contract/client.js';
import { testWithApi } from '../helpers/fixtures.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { routes } from '../../api/contract/routes.js';
import { sessionLogs } from '../helpers/api.js';
import { runtimeFetch } from '../helpers/runtime.js';

const it = testWithApi({ runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1500', CATTY_API_HEARTBEAT_INTERVAL_MS: '1000' } });
// The schedule's first snapshot would come after 200 s: any snapshot there is the download's.
const slowTest = testWithApi({ runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '600000' } });
const POLL = { timeoutMs: 30_000, everyMs: 100 };

describe('session lifecycle against real runtimes', () => {
  it('create → upload → snapshot recorded → stop → download tarball whose sha256 matches', async ({ api }) => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'echo started; sleep 600' } });
    expect(s.status).toBe('running');
    // Reached through its Unix socket in the machine's own directory; the URL only names paths.
    expect(s).toMatchObject({ connectUrl: 'http://localhost', socketPath: join(api.dataDir, 'machines', s.id, 'run', 'runtime.sock') });
    const zip = buildZip([{ name: 'hello.txt', data: 'hello from the laptop\n' }, { name: 'src/main.py', data: 'print(1)\n', deflate: true }]);
    const up = await runtimeFetch(s, '/upload?cols=80&rows=24', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: zip });
    expect(up.status).toBe(200);

    const info = await waitFor(async () => {
      try {
        return await api.client.call(routes.download, { params: { ref: s.label } });
      } catch (err) {
        if (err instanceof RouteError && err.code === 'no_snapshot') return null;
        throw err;
      }
    }, 'a recorded snapshot', POLL);
    expect(info.size).toBeGreaterThan(0);

    const stopped = await api.client.call(routes.stop, { params: { ref: s.label } });
    expect(stopped.status).toBe('stopped');
    expect((await api.client.call(routes.getSession, { params: { ref: s.id } })).status).toBe('stopped');
    await expect(api.client.call(routes.connect, { params: { ref: s.label } })).rejects.toMatchObject({ status: 409, code: 'session_ended' });
    // the connect token died with the runtime
    await expect(runtimeFetch(s, '/healthz')).rejects.toThrow();

    const files = await snapshotFiles(await api.client.call(routes.download, { params: { ref: s.label } }));
    expect(files.get('hello.txt')).toBe('hello from the laptop\n');
    expect(files.get('src/main.py')).toBe('print(1)\n');

    // logs of an ended session are the stored final logs (possibly empty), never an error
    await sessionLogs(api.client, s.label);
    await api.client.call(routes.deleteSession, { params: { ref: s.label } });
    await expect(api.client.call(routes.getSession, { params: { ref: s.label } })).rejects.toMatchObject({ status: 404 });
  });

  it('agent exit → runtime reports → session stopped with the exit code', async ({ api }) => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'echo bye; exit 7', upload: false } });
    const ended = await waitFor(async () => {
      const got = await api.client.call(routes.getSession, { params: { ref: s.label } });
      return got.status === 'running' ? null : got;
    }, 'the session to end', POLL);
    expect(ended).toMatchObject({ status: 'stopped', exitCode: 7 });
    expect((await sessionLogs(api.client, s.label)).toString()).toContain('bye');
  });
});

/** The files of a downloaded snapshot, by path; checks its size and sha256 on the way. */
async function snapshotFiles(info: { url: string; size: number; sha256: string }): Promise<Map<string, string>> {
  const res = await fetch(info.url);
  expect(res.status).toBe(200);
  const tarball = Buffer.from(await res.arrayBuffer());
  expect(tarball.length).toBe(info.size);
  expect(createHash('sha256').update(tarball).digest('hex')).toBe(info.sha256);
  const dest = tempDir('dl');
  const file = join(dest, 'snap.tar.gz');
  writeFileSync(file, tarball);
  const files = new Map<string, string>();
  await untar({ file, cwd: dest, onReadEntry: (entry) => void (entry.type === 'File' && files.set(entry.path, '')) });
  for (const name of files.keys()) files.set(name, readFileSync(join(dest, name), 'utf8'));
  return files;
}

describe('download of a running session', () => {
  slowTest('takes a snapshot now, so it holds what the workspace holds; an unchanged workspace stores none', async ({ api: slow }) => {
    const s = await slow.client.call(routes.createSession, { body: { cmd: 'echo from the agent > agent.txt; sleep 600' } });
    const zip = buildZip([{ name: 'hello.txt', data: 'hello from the laptop\n' }]);
    const up = await runtimeFetch(s, '/upload?cols=80&rows=24', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: zip });
    expect(up.status).toBe(200);

    // Each download asks for a snapshot; the agent writes agent.txt right after the upload. The
    // shell creates the file before it writes to it, so a snapshot may hold it still empty.
    const { info, files } = await waitFor(async () => {
      const got = await slow.client.call(routes.download, { params: { ref: s.label } });
      const inside = await snapshotFiles(got);
      return inside.get('agent.txt') === 'from the agent\n' ? { info: got, files: inside } : null;
    }, "a download with the agent's file", POLL);
    expect(files.get('hello.txt')).toBe('hello from the laptop\n');
    expect(files.get('agent.txt')).toBe('from the agent\n');

    const again = await slow.client.call(routes.download, { params: { ref: s.label } });
    expect(again.sha256).toBe(info.sha256);
    expect(again.createdAt).toBe(info.createdAt);
    await slow.client.call(routes.stop, { params: { ref: s.label } });
  });
});
