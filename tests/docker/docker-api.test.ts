/**
 * The control plane with CATTY_PROVISIONER=docker, end to end through the built catty-api:
 * create → upload → terminal → sync-back → snapshot → API restart (the container survives and is
 * found again) → stop (container and volume removed) → download — under runc and, when the engine
 * has it, gVisor (catty-runsc). Containers have no network: the test reaches the runtime through
 * the socket path the API hands out (its embedded mode), the runtime calls back and uploads its
 * snapshots through the gateway in its run directory.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { x as untar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { RouteError } from '../../api/contract/client.js';
import { SESSION_IMAGE, buildSessionImage, probeDocker, sessionRuntimes } from '../helpers/docker.js';
import { TestClient, runtimeFetch, sessionWs } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { routes } from '../../api/contract/routes.js';

const probe = await probeDocker('docker API');
const runtimes = sessionRuntimes(probe);
let ran = 0;

// Writes each line it reads into the workspace, so sync-back has something to carry.
const AGENT = 'echo started; while read line; do printf "%s\\n" "$line" > /workspace/from-agent.txt; echo "wrote $line"; done';

describe.skipIf(!probe.ok)('catty-api with the docker provisioner', () => {
  const docker = (probe as { docker: Docker }).docker;
  beforeAll(() => buildSessionImage());
  afterAll(() => console.log(`[docker API] ${ran} docker tests ran (runtimes: ${runtimes.join(', ')})`));

  describe.each(runtimes)('under %s', (runtime) => {
    let api: TestApi;
    const sessionIds: string[] = [];

    beforeAll(async () => {
      api = await startTestApi({
        env: {
          CATTY_PROVISIONER: 'docker',
          CATTY_DOCKER_IMAGE: SESSION_IMAGE,
          ...(runtime === 'runc' ? {} : { CATTY_DOCKER_RUNTIME: runtime }),
          CATTY_HEALTH_TIMEOUT_MS: '60000',
        },
        runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1500', CATTY_API_HEARTBEAT_INTERVAL_MS: '1000' },
      });
    });
    afterAll(async () => {
      for (const id of sessionIds) await docker.getContainer(`catty-session-${id}`).remove({ force: true }).catch(() => undefined);
      for (const id of sessionIds) await docker.getVolume(`catty-ws-${id}`).remove().catch(() => undefined);
      await api?.close();
    });

    it('create → upload → terminal → sync-back → snapshot → API restart → stop → download', async () => {
      const started = Date.now();
      const s = await api.client.call(routes.createSession, { body: { cmd: AGENT } });
      sessionIds.push(s.id);
      console.log(`[docker API] ${runtime}: POST /v1/sessions (container healthy) in ${Date.now() - started} ms`);
      expect(s).toMatchObject({ status: 'running', provisioner: 'docker' });
      const container = docker.getContainer(`catty-session-${s.id}`);
      expect((await container.inspect()).Config.Labels).toMatchObject({ 'catty.session-id': s.id, 'catty.label': s.label });

      const zip = buildZip([{ name: 'hello.txt', data: 'hello from the laptop\n' }]);
      expect(s.socketPath).toBe(path.join(api.dataDir, 'docker', `catty-session-${s.id}`, 'runtime.sock'));
      const up = await runtimeFetch(s, '/upload?cols=80&rows=24', {
        method: 'POST',
        headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' },
        body: new Uint8Array(zip),
      });
      expect(up.status).toBe(200);

      const client = new TestClient(sessionWs(s));
      try {
        await client.opened;
        await client.waitForText('started', 30_000);
        client.control({ type: 'sync_back', enabled: true });
        client.send(Buffer.from('synced-line\r'));
        await client.waitForText('wrote synced-line', 15_000);
        const change = await waitFor(() => client.ofType('file_change').find((m) => m.path === 'from-agent.txt'), 'file_change', { timeoutMs: 15_000 });
        expect(Buffer.from(change.content ?? '', 'base64').toString()).toBe('synced-line\n');
      } finally {
        await client.close();
      }

      // A snapshot taken while running is recorded.
      await waitFor(
        () => api.client.call(routes.download, { params: { ref: s.label } }).then(() => true, (err: unknown) => (err instanceof RouteError && err.code === 'no_snapshot' ? false : Promise.reject(err))),
        'a recorded snapshot', { timeoutMs: 60_000, everyMs: 200 },
      );

      // The API restarts; the container keeps running and the session stays usable.
      await api.restart();
      expect((await api.client.call(routes.getSession, { params: { ref: s.label } })).status).toBe('running');
      expect((await container.inspect()).State.Running).toBe(true);
      const again = await api.client.call(routes.connect, { params: { ref: s.label } });
      expect((await runtimeFetch(again, '/healthz')).ok).toBe(true);

      const stopStarted = Date.now();
      expect((await api.client.call(routes.stop, { params: { ref: s.label } })).status).toBe('stopped');
      console.log(`[docker API] ${runtime}: stop in ${Date.now() - stopStarted} ms`);
      await expect(container.inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getVolume(`catty-ws-${s.id}`).inspect()).rejects.toMatchObject({ statusCode: 404 });

      const latest = await api.client.call(routes.download, { params: { ref: s.label } });
      const tarball = Buffer.from(await (await fetch(latest.url)).arrayBuffer());
      expect(createHash('sha256').update(tarball).digest('hex')).toBe(latest.sha256);
      const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-docker-dl-'));
      try {
        fs.writeFileSync(path.join(dest, 'snap.tar.gz'), tarball);
        await untar({ file: path.join(dest, 'snap.tar.gz'), cwd: dest });
        expect(fs.readFileSync(path.join(dest, 'hello.txt'), 'utf8')).toBe('hello from the laptop\n');
        expect(fs.readFileSync(path.join(dest, 'from-agent.txt'), 'utf8')).toBe('synced-line\n');
      } finally {
        fs.rmSync(dest, { recursive: true, force: true });
      }
      ran++;
    });

    it('agent exit → session stopped with the exit code, container removed', async () => {
      // The sleep keeps the exit after POST /v1/sessions returns: an agent that exits while the API
      // still waits for /healthz is a separate race in the API's create (reported, not tested here).
      const s = await api.client.call(routes.createSession, { body: { cmd: 'echo bye; sleep 3; exit 7', upload: false } });
      sessionIds.push(s.id);
      const ended = await waitFor(
        async () => {
          const got = await api.client.call(routes.getSession, { params: { ref: s.label } });
          return got.status === 'running' ? null : got;
        },
        'the session to end', { timeoutMs: 60_000, everyMs: 200 },
      );
      expect(ended).toMatchObject({ status: 'stopped', exitCode: 7 });
      await waitFor(
        () => docker.getContainer(`catty-session-${s.id}`).inspect().then(() => false, (err: { statusCode?: number }) => err.statusCode === 404),
        'the container to be removed', { timeoutMs: 60_000, everyMs: 200 },
      );
      ran++;
    });
  });
});
