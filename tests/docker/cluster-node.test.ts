/**
 * A cluster node and a real session machine (issue 22; SECURITY README rows 63–65): the three
 * named volumes a Swarm service mounts, made with the engine's `docker volume create` and the
 * labels the Swarm provisioner gives them, and a container of the session image mounting them as
 * the service would (plain `docker run`, no swarm: the engine and the volumes are the same). The
 * built catty-node in cluster mode, on this engine, attaches the machine; the API's own client
 * code reaches the runtime only through the node over mutual TLS: healthz, an upload, a
 * WebSocket terminal echo; the runtime's callback reaches the API through the gateway the node
 * opened in the run volume; the agent's egress socket is the node's, in the egress volume. The
 * machine's user (uid 1000) can no longer touch its run directory once attached. closeMachine
 * removes the volumes through the engine.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VolumeLabel, machineVolumeName } from '../../api/node/contract.js';
import { loadApiTls, remoteNode } from '../../api/node/remote.js';
import { requestRuntime } from '../../api/services/runtime-client.js';
import { RuntimeEnv } from '../../session-runtime/wire/runtime-env.js';
import { onCleanup } from '../helpers/cleanup.js';
import { makeCerts, runtimeWs, startClusterNode } from '../helpers/cluster-node.js';
import { SESSION_IMAGE, buildSessionImage, probeDocker, sessionRuntimes, startFakeApi } from '../helpers/docker.js';
import { policy } from '../helpers/egress.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const probe = await probeDocker('cluster node');
const RUN_ID = `cn${randomBytes(4).toString('hex')}`;

describe.skipIf(!probe.ok)('a cluster node attaches a real session machine', () => {
  const docker = (probe as { docker: Docker }).docker;
  let api: Awaited<ReturnType<typeof startFakeApi>>;
  beforeAll(async () => {
    buildSessionImage();
    api = await startFakeApi();
  }, 600_000);
  afterAll(async () => {
    await api?.close();
  });

  for (const runtime of sessionRuntimes(probe)) {
    it(`volumes, attach, healthz, upload, terminal and close through the node (${runtime})`, async () => {
      const id = `${RUN_ID}${runtime === 'runc' ? 'r' : 'g'}`;
      const names = { ws: machineVolumeName('ws', id), run: machineVolumeName('run', id), egress: machineVolumeName('egress', id) };
      const labels = { [VolumeLabel.managed]: 'true', [VolumeLabel.sessionId]: id };
      const containerName = `catty-session-${id}`;
      onCleanup(async () => {
        await docker.getContainer(containerName).remove({ force: true }).catch(() => undefined);
        for (const name of Object.values(names)) await docker.getVolume(name).remove().catch(() => undefined);
      });
      for (const name of Object.values(names)) await docker.createVolume({ Name: name, Labels: labels });

      const root = tempDir('cluster-node');
      const certs = makeCerts(root);
      const node = await startClusterNode(certs.nodeDir, path.join(root, 'node'));
      const remote = remoteNode(node.url, loadApiTls(certs.apiDir));

      const token = randomBytes(16).toString('hex');
      const container = await docker.createContainer({
        name: containerName,
        Image: SESSION_IMAGE,
        User: '1000:1000',
        WorkingDir: '/workspace',
        Env: Object.entries({
          [RuntimeEnv.workspace]: '/workspace',
          [RuntimeEnv.listen]: 'unix:/run/catty/runtime.sock',
          [RuntimeEnv.agentHome]: '/home/agent',
          [RuntimeEnv.apiUrl]: api.url,
          [RuntimeEnv.callbackSocket]: '/run/catty/callback.sock',
          [RuntimeEnv.egressSocket]: '/run/catty-egress/proxy.sock',
          [RuntimeEnv.connectToken]: token,
          [RuntimeEnv.machineToken]: 'machine-token',
          [RuntimeEnv.agentCmd]: JSON.stringify(['sh', '-c', 'echo READY; exec cat']),
          [RuntimeEnv.agentEnv]: '{}',
        }).map(([k, v]) => `${k}=${v}`),
        Healthcheck: { Test: ['NONE'] },
        HostConfig: {
          NetworkMode: 'none',
          Runtime: runtime,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m', '/home/agent': 'rw,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700' },
          // As the Swarm service mounts them.
          Mounts: [
            { Type: 'volume', Source: names.ws, Target: '/workspace' },
            { Type: 'volume', Source: names.run, Target: '/run/catty' },
            { Type: 'volume', Source: names.egress, Target: '/run/catty-egress', ReadOnly: true },
          ],
        },
      });
      await container.start();

      const started = Date.now();
      await remote.attachMachine(id, { runVolume: names.run, egressVolume: names.egress, apiUrl: api.url, machineUid: 1000, policy: policy('none'), credentials: { inject: [] }, timeoutMs: 60_000 });
      console.log(`[cluster-node] ${runtime}: attached ${Date.now() - started} ms after start`);
      expect(await remote.machines()).toEqual([id]);

      // The run directory is the node's now: the machine's user can replace nothing in it.
      const runDir = (await docker.getVolume(names.run).inspect()).Mountpoint;
      const stat = fs.statSync(runDir);
      expect([stat.uid, stat.mode & 0o777]).toEqual([0, 0o711]);
      const tamper = await exec(container, ['sh', '-c', 'mv /run/catty/runtime.sock /run/catty/x; ln -s /var/run/docker.sock /run/catty/evil; echo status=$?']);
      expect(tamper).toMatch(/Permission denied|Read-only|EACCES/i);
      expect(fs.readdirSync(runDir).sort()).toEqual(['callback.sock', 'runtime.sock']);

      const endpoint = remote.runtimeEndpoint(id);
      expect((await requestRuntime(endpoint, '/healthz', { timeoutMs: 10_000, maxBytes: 4096 })).status).toBe(200);
      const zip = buildZip([{ name: 'from-api.txt', data: 'through the node' }]);
      const uploaded = await requestRuntime(endpoint, '/upload?cols=80&rows=24', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/zip', 'content-length': String(zip.length) },
        body: Readable.from([zip]),
        timeoutMs: 30_000,
        maxBytes: 64 * 1024,
      });
      expect(uploaded.status).toBe(200);
      expect(await exec(container, ['cat', '/workspace/from-api.txt'])).toContain('through the node');

      const term = runtimeWs(endpoint, token);
      await term.opened;
      await waitFor(() => term.text().includes('READY'), 'the agent (it starts once the node made its egress socket)', { timeoutMs: 30_000 });
      term.ws.send(Buffer.from('echo-via-node\r'), { binary: true });
      await waitFor(() => term.text().includes('echo-via-node'), 'the echo through the node');
      term.ws.close();
      // The runtime's own callbacks left through the gateway in its run volume.
      await waitFor(() => api.calls.length > 0, 'a runtime callback through the node’s gateway', { timeoutMs: 30_000 });
      // The agent's way out is the node's socket in the egress volume, given to uid 1000.
      const egressDir = (await docker.getVolume(names.egress).inspect()).Mountpoint;
      expect(fs.lstatSync(path.join(egressDir, 'proxy.sock')).uid).toBe(1000);

      await container.remove({ force: true });
      await remote.closeMachine(id, Object.values(names));
      for (const name of Object.values(names)) await expect(docker.getVolume(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(await remote.machines()).toEqual([]);
      await remote.closeMachine(id, Object.values(names)); // idempotent
    });
  }

  it('a volume without the session’s labels is neither attached nor removed', async () => {
    const id = `${RUN_ID}x`;
    const name = machineVolumeName('run', id);
    await docker.createVolume({ Name: name, Labels: { [VolumeLabel.managed]: 'true', [VolumeLabel.sessionId]: 'someone-else' } });
    onCleanup(() => docker.getVolume(name).remove().catch(() => undefined));
    const root = tempDir('cluster-node');
    const certs = makeCerts(root);
    const node = await startClusterNode(certs.nodeDir, path.join(root, 'node'));
    const remote = remoteNode(node.url, loadApiTls(certs.apiDir));
    const attach = remote.attachMachine(id, { runVolume: name, egressVolume: machineVolumeName('egress', id), apiUrl: api.url, machineUid: 1000, policy: policy('none'), credentials: { inject: [] }, timeoutMs: 1000 });
    await expect(attach).rejects.toMatchObject({ status: 409 });
    await expect(remote.closeMachine(id, [name])).rejects.toMatchObject({ status: 409 });
    expect((await docker.getVolume(name).inspect()).Name).toBe(name);
  });
});

/** Runs `cmd` in the container as its user; resolves with what it printed. */
async function exec(container: Docker.Container, cmd: string[]): Promise<string> {
  const run = await container.exec({ Cmd: cmd, User: '1000:1000', AttachStdout: true, AttachStderr: true });
  const stream = await run.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => stream.on('end', resolve));
  // Demultiplexed loosely: the 8-byte frame headers are not text the test looks for.
  return Buffer.concat(chunks).toString('utf8');
}
