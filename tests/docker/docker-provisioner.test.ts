/**
 * The Docker provisioner against a real engine: the session image built by
 * infra/build-session-image.sh, one container per session with no network, reached through its
 * runtime's socket in the machine's run directory; upload → agent → terminal round trip, the
 * hardening the container was created with (and that it holds inside), callbacks through the
 * gateway, list by label, and stop removing the container, its volume and its run directory —
 * under runc, and under gVisor (catty-runsc) when the engine has it registered.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerProvisioner } from '../../api/provisioners/docker.js';
import { Label } from '../../api/provisioners/docker-spec.js';
import type { Machine, MachineSpec, Provisioner } from '../../api/provisioners/types.js';
import { SESSION_IMAGE, buildSessionImage, probeDocker, removeLeftovers, sessionRuntimes, startFakeApi } from '../helpers/docker.js';
import { FIXTURE_AGENTS } from '../helpers/paths.js';
import { TestClient, runtimeFetch } from '../helpers/runtime.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { buildZip } from '../helpers/runtime-zip.js';

const probe = await probeDocker('docker provisioner');
const runtimes = sessionRuntimes(probe);
const RUN_ID = `t${randomBytes(4).toString('hex')}`;
let ran = 0;

// Uses node rather than ls/stat for the file checks: coreutils' statx flags are refused by the
// gVisor release Debian ships (EINVAL), while node's are not.
const PROBE_SH = `echo "ID $(id -u):$(id -g)"
grep CapEff /proc/self/status
touch /opt/catty/x 2>/dev/null || echo ROOTFS-RO
node -e 'const fs = require("fs"); const h = fs.statSync(process.env.HOME);
console.log("FILES " + fs.readdirSync("/workspace").sort().join(" "));
console.log("HOME " + process.env.HOME + " " + (h.mode & 0o777).toString(8) + " " + h.uid)'
echo "SECRET \${MY_SECRET:-none}"
env | grep -c '^CATTY_' | sed 's/^/CATTY_VARS /'
for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; done | grep -c '^CATTY_CONNECT_TOKEN=' | sed 's/^/TOKEN_VISIBLE /'
exec node /workspace/echo.mjs
`;

describe.skipIf(!probe.ok)('docker provisioner', () => {
  const docker = (probe as { docker: Docker }).docker;
  let api: Awaited<ReturnType<typeof startFakeApi>>;

  beforeAll(async () => {
    buildSessionImage();
    api = await startFakeApi();
  });
  afterAll(async () => {
    await removeLeftovers(docker, RUN_ID);
    await api?.close();
    console.log(`[docker provisioner] ${ran} docker tests ran (runtimes: ${runtimes.join(', ')})`);
  });

  it('names the image to build when it is missing, and cleans up after a failed start', async () => {
    const provisioner = createDockerProvisioner({ image: 'catty-session:does-not-exist', runDir: tempDir('docker-run') });
    const spec = { sessionId: `${RUN_ID}-missing`, ownerId: 'o', label: 'l', connectToken: 'c', machineToken: 'm', apiUrl: api.url, agentCmd: ['true'], agentEnv: {}, upload: true };
    await expect(provisioner.start(spec)).rejects.toThrow(/catty-session:does-not-exist not found: build it with infra\/build-session-image\.sh/);
    // A session whose container vanished but whose volume is left: stop still removes the volume.
    await docker.createVolume({ Name: `catty-ws-${spec.sessionId}`, Labels: { 'catty.managed': 'true', 'catty.session-id': spec.sessionId } });
    await provisioner.stop(`catty-session-${spec.sessionId}`, { graceMs: 1000 });
    await expect(docker.getVolume(`catty-ws-${spec.sessionId}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    ran++;
  });

  describe.each(runtimes)('under %s', (runtime) => {
    let provisioner: Provisioner;
    let machine: Machine;
    const endpoint = () => ({ url: machine.runtimeUrl, socketPath: machine.runtimeSocket! });
    const spec: MachineSpec = {
      sessionId: `${RUN_ID}-${runtime}`,
      ownerId: 'owner-1',
      label: `brave-otter-${runtime === 'runc' ? '0001' : '0002'}`,
      connectToken: randomBytes(24).toString('hex'),
      machineToken: randomBytes(24).toString('hex'),
      apiUrl: '',
      // probe.sh (uploaded) prints what the agent is and may do, then hands over to echo.mjs.
      agentCmd: ['sh', '/workspace/probe.sh'],
      agentEnv: { CATTY_DOCKER_TEST_SECRET: 'not-for-agent', MY_SECRET: 'for-agent' },
      upload: true,
    };

    beforeAll(() => {
      spec.apiUrl = api.url;
      provisioner = createDockerProvisioner({
        image: SESSION_IMAGE,
        runDir: tempDir('docker-run'),
        ...(runtime === 'runc' ? {} : { runtime }),
        runtimeEnv: { CATTY_API_HEARTBEAT_INTERVAL_MS: '1000' },
      });
    });
    afterAll(async () => {
      if (machine) await provisioner.stop(machine.machineId, { graceMs: 1000 }).catch(() => undefined);
      await provisioner?.close();
    });

    it('starts a container whose runtime answers /healthz on its socket in the run directory', async () => {
      const started = Date.now();
      machine = await provisioner.start(spec);
      expect(machine.runtimeUrl).toBe('http://localhost');
      expect(machine.runtimeSocket).toMatch(new RegExp(`/catty-session-${spec.sessionId}/runtime\\.sock$`));
      // The runtime listens; a root API has taken the directory back (the agent cannot swap the sockets).
      const dir = fs.statSync(path.dirname(machine.runtimeSocket!));
      if (process.getuid?.() === 0) expect([dir.uid, dir.mode & 0o777]).toEqual([0, 0o711]);
      await waitFor(
        () => runtimeFetch(endpoint(), '/healthz').then((r) => r.ok, () => false),
        '/healthz', { timeoutMs: 60_000, everyMs: 50 },
      );
      console.log(`[docker provisioner] ${runtime}: start → /healthz OK in ${Date.now() - started} ms`);
      ran++;
    });

    it('created the container hardened: non-root, no caps, read-only root, limits, labels', async () => {
      const info = await docker.getContainer(machine.machineId).inspect();
      expect(info.Config.User).toBe('1000:1000');
      expect(info.HostConfig.CapDrop).toEqual(['ALL']);
      expect(info.HostConfig.CapAdd ?? []).toEqual([]);
      expect(info.HostConfig.Privileged).toBe(false);
      expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      expect(info.HostConfig.Memory).toBe(2 * 1024 ** 3);
      expect(info.HostConfig.PidsLimit).toBe(512);
      expect(info.HostConfig.NanoCpus).toBeGreaterThan(0);
      expect(info.HostConfig.NetworkMode).toBe('none');
      expect(info.Mounts.find((m) => m.Destination === '/run/catty')).toMatchObject({ Type: 'bind', Source: path.dirname(machine.runtimeSocket!), RW: true });
      expect(info.HostConfig.Runtime).toBe(runtime);
      expect(Object.keys(info.HostConfig.Tmpfs ?? {}).sort()).toEqual(['/home/agent', '/tmp']);
      // No health check, in the image or the container: the engine would run it inside with the
      // container's environment (the session's tokens), readable by the agent.
      expect(info.Config.Healthcheck).toEqual({ Test: ['NONE'] });
      expect((await docker.getImage(SESSION_IMAGE).inspect()).Config.Healthcheck ?? null).toBeNull();
      expect(info.Mounts.find((m) => m.Destination === '/workspace')).toMatchObject({ Type: 'volume', Name: `catty-ws-${spec.sessionId}`, RW: true });
      expect(info.Config.Labels).toMatchObject({
        [Label.managed]: 'true',
        [Label.sessionId]: spec.sessionId,
        [Label.owner]: spec.ownerId,
        [Label.label]: spec.label,
      });
      ran++;
    });

    it('takes an upload, starts the agent, and relays the terminal both ways', async () => {
      const zip = buildZip([
        { name: 'echo.mjs', data: fs.readFileSync(path.join(FIXTURE_AGENTS, 'echo.mjs')) },
        { name: 'hello.txt', data: 'hello from the laptop\n' },
        { name: 'probe.sh', data: PROBE_SH },
      ]);
      const unauthorized = await runtimeFetch(endpoint(), '/upload', { method: 'POST', body: new Uint8Array(zip) });
      expect(unauthorized.status).toBe(401);
      const res = await runtimeFetch(endpoint(), '/upload', {
        method: 'POST',
        headers: { authorization: `Bearer ${spec.connectToken}`, 'content-type': 'application/zip' },
        body: new Uint8Array(zip),
      });
      expect(res.status).toBe(200);

      const client = new TestClient({ wsUrl: machine.runtimeUrl.replace(/^http/, 'ws'), token: spec.connectToken, socketPath: machine.runtimeSocket! });
      try {
        await client.opened;
        await waitFor(() => client.hello(), 'hello', { timeoutMs: 15_000 });
        await client.waitForText('READY', 30_000);
        const text = client.text();
        // Inside: the agent is uid 1000 with no capabilities, the root fs refuses writes, the
        // upload landed in /workspace, its home is private, and no CATTY_* variable reached it.
        expect(text).toContain('ID 1000:1000');
        expect(text).toMatch(/CapEff:\s+0000000000000000/);
        expect(text).toContain('ROOTFS-RO');
        expect(text).toContain('FILES echo.mjs hello.txt probe.sh');
        expect(text).toContain('HOME /home/agent 700 1000');
        expect(text).toContain('SECRET for-agent');
        expect(text).toContain('CATTY_VARS 0');
        // No token in any environment the agent can read (SECURITY.md 37): the runtime's holds
        // none (its settings came on stdin), even under gVisor, where it is readable.
        expect(/TOKEN_VISIBLE (\d+)/.exec(text)?.[1]).toBe('0');
        client.send(Buffer.from('ping-from-test\r'));
        await client.waitForText('ping-from-test', 15_000);
      } finally {
        await client.close();
      }
      ran++;
    });

    it('calls back the API with its machine token, through the gateway (it has no network)', async () => {
      const call = await waitFor(() => api.calls.find((c) => c.authorization === `Bearer ${spec.machineToken}`), 'a callback', { timeoutMs: 30_000, everyMs: 100 });
      expect(call.path).toMatch(/^\/v1\/runtime\//);
      ran++;
    });

    it('lists the container by label and reports it alive — to its own control plane only', async () => {
      const listed = (await provisioner.list()).find((m) => m.sessionId === spec.sessionId);
      expect(listed).toEqual({ machineId: machine.machineId, runtimeUrl: machine.runtimeUrl, runtimeSocket: machine.runtimeSocket, sessionId: spec.sessionId, alive: true });
      expect(await provisioner.isAlive(machine.machineId)).toBe(true);
      // Another API on this engine must not take it for an orphan of its own (and stop it).
      const other = createDockerProvisioner({ image: SESSION_IMAGE, controlPlane: 'another-control-plane', runDir: tempDir('docker-run') });
      expect((await other.list()).some((m) => m.sessionId === spec.sessionId)).toBe(false);
      await other.close();
      ran++;
    });

    it('stops with SIGTERM, removes the container and its volume, and stays idempotent', async () => {
      const started = Date.now();
      await provisioner.stop(machine.machineId, { graceMs: 10_000 });
      console.log(`[docker provisioner] ${runtime}: stop took ${Date.now() - started} ms`);
      await expect(docker.getContainer(machine.machineId).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getVolume(`catty-ws-${spec.sessionId}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(fs.existsSync(path.dirname(machine.runtimeSocket!))).toBe(false);
      expect(await provisioner.isAlive(machine.machineId)).toBe(false);
      expect((await provisioner.list()).some((m) => m.sessionId === spec.sessionId)).toBe(false);
      await provisioner.stop(machine.machineId, { graceMs: 1000 });
      ran++;
    });
  });
});
