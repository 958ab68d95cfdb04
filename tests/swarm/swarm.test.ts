/**
 * The built catty-api with CATTY_PROVISIONER=swarm on a real two-node swarm
 * (tests/helpers/swarm.ts), end to end: sessions land on both nodes and work through the API's
 * relay (create, upload, a terminal typed into, a snapshot, stop, download), and leave nothing on
 * either node; a node drained mid-session → the session is reported lost and its last snapshot
 * downloads (the storage is shared); the manager unreachable → a clear error and nothing
 * half-created. The API listens on node 1's veth address (node 2's sessions call it back from
 * there), as does the S3 server both nodes' gateways upload snapshots to. The API never sees
 * node 2's engine or its files: node 2's sessions go through node 2's catty-node.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { x as untar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouteError } from '../../api/contract/client.js';
import { loadApiTls } from '../../api/node/remote.js';
import { createSwarmProvisioner } from '../../api/provisioners/swarm.js';
import { sessionVolumes } from '../../api/provisioners/swarm-spec.js';
import type { Machine, MachineSpec } from '../../api/provisioners/types.js';
import { requestRuntime } from '../../api/services/runtime-client.js';
import { routes } from '../../api/contract/routes.js';
import type { CreatedSession } from '../../api/contract/schemas.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { GVISOR_RUNTIME, SESSION_IMAGE, buildSessionImage, probeDocker } from '../helpers/docker.js';
import { TestClient, runtimeFetch, sessionWs } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { makeSwarm, managerProxy, type SwarmNode, type TestSwarm } from '../helpers/swarm.js';
import { waitFor } from '../helpers/wait.js';

const probe = await probeDocker('swarm API');
// Writes each line it reads into the workspace.
const AGENT = 'echo started; while read line; do printf "%s\\n" "$line" > /workspace/from-agent.txt; echo "wrote $line"; done';
/** Run first by the API case's agent: a CONNECT its policy refuses, through its proxy (held by its node's catty-node). */
const KNOCK = `node -e "const s=require('net').connect('/run/catty-egress/proxy.sock');s.on('connect',()=>s.write('CONNECT refused.example:443 HTTP/1.1\\\\r\\\\nHost: refused.example:443\\\\r\\\\n\\\\r\\\\n'));s.on('data',()=>s.destroy());s.on('error',()=>{});setTimeout(()=>s.destroy(),5000)"`;

async function freePortOn(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Created = CreatedSession;

/** Run by the agent: the interfaces and routes it has, and a TCP connect to each target. */
const PROBE = `
const net = require('node:net'); const fs = require('node:fs');
const ifs = fs.readFileSync('/proc/net/dev', 'utf8').split('\\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean);
console.log('INTERFACES ' + ifs.join(','));
console.log('ROUTES ' + (fs.readFileSync('/proc/net/route', 'utf8').trim().split('\\n').length - 1));
const targets = JSON.parse(process.env.PROBE_TARGETS);
(async () => {
  for (const t of targets) {
    const [host, port] = [t.slice(0, t.lastIndexOf(':')), Number(t.slice(t.lastIndexOf(':') + 1))];
    const r = await new Promise((resolve) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => { s.destroy(); resolve('TIMEOUT'); }, 2000);
      s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve('CONNECTED'); });
      s.once('error', (e) => { clearTimeout(timer); resolve(e.code); });
    });
    console.log('TCP ' + t + ' ' + r);
  }
  console.log('PROBE-DONE');
  setInterval(() => {}, 1e6);
})();`;

describe.skipIf(!probe.ok)('catty-api with the swarm provisioner', () => {
  let swarm: TestSwarm;
  let api: TestApi;
  let s3: S3rver;
  let s3Dir: string;
  let apiEnv: Record<string, string>;

  /** The node a session's task runs (or ran) on. */
  async function nodeOf(sessionId: string): Promise<SwarmNode> {
    const tasks = (await swarm.nodes[0].docker.listTasks({ filters: { service: [`catty-session-${sessionId}`] } })) as Array<{ NodeID: string }>;
    return swarm.nodes.find((n) => n.id === tasks[0]?.NodeID)!;
  }

  /** Nothing of the session on either node: service, containers, volumes, its egress directory. */
  async function expectNothingLeft(sessionId: string): Promise<void> {
    const [n1, n2] = swarm.nodes;
    await expect(n1.docker.getService(`catty-session-${sessionId}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    for (const node of [n1, n2]) {
      expect(await node.docker.listContainers({ all: true, filters: { label: [`catty.session-id=${sessionId}`] } }), node.name).toEqual([]);
      expect((await node.docker.listVolumes({ filters: { label: [`catty.session-id=${sessionId}`] } })).Volumes ?? [], node.name).toEqual([]);
    }
    expect(swarm.inNode2(`ls -A /var/lib/catty/node/egress 2>/dev/null`).stdout).not.toContain(sessionId);
    expect(fs.readdirSync(path.join(swarm.root, 'node1-catty', 'egress'), { withFileTypes: true }).map((d) => d.name)).not.toContain(sessionId);
  }

  async function downloadFile(label: string, file: string): Promise<string> {
    const latest = await api.client.call(routes.download, { params: { ref: label } });
    const tarball = Buffer.from(await (await fetch(latest.url)).arrayBuffer());
    expect(createHash('sha256').update(tarball).digest('hex')).toBe(latest.sha256);
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-swarm-dl-'));
    try {
      fs.writeFileSync(path.join(dest, 'snap.tar.gz'), tarball);
      await untar({ file: path.join(dest, 'snap.tar.gz'), cwd: dest });
      return fs.readFileSync(path.join(dest, file), 'utf8');
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }
  }

  const hasSnapshot = (label: string) => () =>
    api.client.call(routes.download, { params: { ref: label } }).then(
      () => true,
      (err: unknown) => (err instanceof RouteError && err.code === 'no_snapshot' ? false : Promise.reject(err)),
    );

  beforeAll(async () => {
    buildSessionImage();
    swarm = await makeSwarm({ image: SESSION_IMAGE });
    const host = swarm.nodes[0].addr;
    s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-swarm-s3-'));
    s3 = new S3rver({ address: host, port: 0, directory: s3Dir, silent: true, configureBuckets: [{ name: 'catty' }] });
    const s3Port = ((await s3.run()) as net.AddressInfo).port;
    const apiPort = await freePortOn(host);
    const apiUrl = `http://${host}:${apiPort}`;
    apiEnv = {
      CATTY_PROVISIONER: 'swarm',
      CATTY_DOCKER_IMAGE: SESSION_IMAGE,
      CATTY_API_LISTEN: `${host}:${apiPort}`,
      CATTY_PUBLIC_URL: apiUrl,
      CATTY_MACHINE_API_URL: apiUrl,
      CATTY_NODE_TLS_DIR: swarm.apiTlsDir,
      CATTY_NODE_PORT: String(swarm.nodePort),
      CATTY_S3_ENDPOINT: `http://${host}:${s3Port}`,
      CATTY_S3_BUCKET: 'catty',
      CATTY_HEALTH_TIMEOUT_MS: '60000',
      CATTY_STOP_GRACE_MS: '10000',
    };
    api = await startTestApi({ env: apiEnv, runtimeEnv: { CATTY_SNAPSHOT_INTERVAL_MS: '1500', CATTY_API_HEARTBEAT_INTERVAL_MS: '1000' } });
  }, 400_000);

  afterAll(async () => {
    await api?.close();
    await s3?.close();
    if (s3Dir) fs.rmSync(s3Dir, { recursive: true, force: true });
    await swarm?.close();
  }, 180_000);

  it('the provisioner alone: sessions on both nodes, each runtime reached through its node, inside only a loopback; stop leaves nothing', async () => {
    const tls = loadApiTls(swarm.apiTlsDir);
    const provisioner = createSwarmProvisioner({ tls, nodePort: swarm.nodePort, image: SESSION_IMAGE, controlPlane: randomBytes(12).toString('hex'), env: {}, startTimeoutMs: 60_000, stopGraceMs: 5000 });
    const started: Array<{ machine: Machine; spec: MachineSpec; nodeId: string }> = [];
    // A listener on every host address: nothing inside may reach it.
    let listenerHits = 0;
    const listener = net.createServer((s) => {
      listenerHits += 1;
      s.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', resolve));
    const listenerPort = (listener.address() as net.AddressInfo).port;
    const spec = (targets: string[]): MachineSpec => ({
      sessionId: randomBytes(12).toString('hex'),
      ownerId: 'owner',
      label: 'probe',
      connectToken: randomBytes(16).toString('hex'),
      machineToken: randomBytes(16).toString('hex'),
      apiUrl: `http://${swarm.nodes[0].addr}:9`,
      agentCmd: ['node', '-e', PROBE],
      agentEnv: { PROBE_TARGETS: JSON.stringify(targets) },
      upload: false,
      network: { preset: 'none', allow: [] },
      credentials: { inject: [] },
    });
    try {
      const [n1, n2] = swarm.nodes;
      const hostAddrs = Object.values(os.networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4').map((a) => a!.address);
      const targets = [`${n1.addr}:${swarm.nodePort}`, `${n2.addr}:${swarm.nodePort}`, `${n1.addr}:2377`, ...hostAddrs.map((a) => `${a}:${listenerPort}`)];
      // Swarm spreads services over the nodes; a few starts land on both.
      for (let i = 0; i < 4 && new Set(started.map((s) => s.nodeId)).size < 2; i++) {
        const t0 = Date.now();
        const s = spec(targets);
        const machine = await provisioner.start(s);
        const tasks = (await n1.docker.listTasks({ filters: { service: [machine.machineId] } })) as Array<{ NodeID: string }>;
        started.push({ machine, spec: s, nodeId: tasks[0]!.NodeID });
        console.log(`[swarm] start → attached on ${tasks[0]!.NodeID === n1.id ? 'node1' : 'node2'} in ${Date.now() - t0} ms`);
        expect(machine).toMatchObject({ machineId: `catty-session-${s.sessionId}` });
        expect(machine.runtimeUrl).toMatch(/^https:\/\//);
        expect(machine.runtimeSocket).toBeUndefined();
      }
      expect(new Set(started.map((s) => s.nodeId))).toEqual(new Set([n1.id, n2.id]));

      for (const { machine, spec: s, nodeId } of started) {
        const node = nodeId === n1.id ? n1 : n2;
        expect(machine.runtimeUrl.startsWith(node.nodeUrl)).toBe(true);
        const endpoint = { url: machine.runtimeUrl, tls };
        const health = await requestRuntime(endpoint, '/healthz', { timeoutMs: 5000, maxBytes: 4096 });
        expect(health.status).toBe(200);
        // Without the API's certificate the node answers nothing.
        await expect(requestRuntime({ url: machine.runtimeUrl, tls: { ...tls, cert: '', key: '' } }, '/healthz', { timeoutMs: 5000, maxBytes: 4096 })).rejects.toThrow();
        const out = await waitFor(async () => {
          const logs = await requestRuntime(endpoint, '/logs', { timeoutMs: 5000, maxBytes: 1 << 20, headers: { authorization: `Bearer ${s.connectToken}` } });
          const text = logs.body.toString();
          return text.includes('PROBE-DONE') && text;
        }, 'the probe’s report', { timeoutMs: 60_000, everyMs: 250 });
        console.log(`[swarm] ${node.name}: ${out.trim().replace(/\r/g, '')}`);
        expect(out).toMatch(/^INTERFACES lo\r?$/m);
        expect(out).toMatch(/^ROUTES 0\r?$/m);
        for (const t of targets) expect(out).toMatch(new RegExp(`^TCP ${t.replace(/\./g, '\\.')} (ENETUNREACH|EHOSTUNREACH|ECONNREFUSED)\\r?$`, 'm'));
        expect(out).not.toMatch(/CONNECTED|TIMEOUT/);
        // The node's engine made the volumes; node 2's are not on the host at all.
        const ws = (await node.docker.getVolume(sessionVolumes(s.sessionId).workspace).inspect()) as { Mountpoint: string };
        if (node === n2) {
          expect(fs.existsSync(ws.Mountpoint)).toBe(false);
          expect(swarm.inNode2(`test -d ${ws.Mountpoint}`).status).toBe(0);
          expect(fs.readdirSync(swarm.hiddenDir)).toEqual([]);
        } else {
          expect(fs.existsSync(ws.Mountpoint)).toBe(true);
        }
      }
      expect(listenerHits).toBe(0);
      expect((await provisioner.list()).map((m) => m.machineId).sort()).toEqual(started.map((s) => s.machine.machineId).sort());
      for (const s of started) expect(await provisioner.isAlive(s.machine.machineId)).toBe(true);
      for (const { machine } of started) {
        const t0 = Date.now();
        await provisioner.stop(machine.machineId, { graceMs: 5000 });
        console.log(`[swarm] stop of ${machine.machineId} in ${Date.now() - t0} ms`);
        expect(await provisioner.isAlive(machine.machineId)).toBe(false);
      }
      expect(await provisioner.list()).toEqual([]);
      for (const node of [n1, n2]) {
        for (const { spec: s } of started) {
          const containers = await node.docker.listContainers({ all: true, filters: { label: [`catty.session-id=${s.sessionId}`] } });
          expect(containers, node.name).toEqual([]);
          const { Volumes } = await node.docker.listVolumes({ filters: { label: [`catty.session-id=${s.sessionId}`] } });
          expect(Volumes ?? [], node.name).toEqual([]);
        }
      }
      expect(swarm.inNode2('ls -A /var/lib/catty/node/egress 2>/dev/null').stdout.trim()).toBe('');
      // Stopping again is a no-op.
      await provisioner.stop(started[0]!.machine.machineId, { graceMs: 1000 });
    } finally {
      for (const s of started) await provisioner.stop(s.machine.machineId, { graceMs: 1000 }).catch(() => undefined);
      await provisioner.close();
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it('gVisor by node label: a session asking for catty-runsc lands on node 2 (its default runtime) and runs under it, with only a loopback', async () => {
    const [, n2] = swarm.nodes;
    const provisioner = createSwarmProvisioner({ tls: loadApiTls(swarm.apiTlsDir), nodePort: swarm.nodePort, image: SESSION_IMAGE, runtime: GVISOR_RUNTIME, controlPlane: randomBytes(12).toString('hex'), env: {}, stopGraceMs: 5000 });
    const s: MachineSpec = {
      sessionId: randomBytes(12).toString('hex'),
      ownerId: 'owner',
      label: 'gvisor',
      connectToken: randomBytes(16).toString('hex'),
      machineToken: randomBytes(16).toString('hex'),
      apiUrl: `http://${swarm.nodes[0].addr}:9`,
      agentCmd: ['node', '-e', PROBE],
      agentEnv: { PROBE_TARGETS: JSON.stringify([`${swarm.nodes[0].addr}:${swarm.nodePort}`]) },
      upload: false,
      network: { preset: 'none', allow: [] },
    };
    const t0 = Date.now();
    const machine = await provisioner.start(s);
    try {
      console.log(`[swarm] start under gVisor → attached in ${Date.now() - t0} ms`);
      expect((await nodeOf(s.sessionId)).name).toBe('node2');
      const [container] = await n2.docker.listContainers({ filters: { label: [`catty.session-id=${s.sessionId}`] } });
      expect((await n2.docker.getContainer(container!.Id).inspect()).HostConfig.Runtime).toBe(GVISOR_RUNTIME);
      const endpoint = { url: machine.runtimeUrl, tls: loadApiTls(swarm.apiTlsDir) };
      const out = await waitFor(async () => {
        const text = (await requestRuntime(endpoint, '/logs', { timeoutMs: 5000, maxBytes: 1 << 20, headers: { authorization: `Bearer ${s.connectToken}` } })).body.toString();
        return text.includes('PROBE-DONE') && text;
      }, 'the probe’s report under gVisor', { timeoutMs: 60_000, everyMs: 250 });
      expect(out).toMatch(/^INTERFACES lo\r?$/m);
      expect(out).not.toMatch(/CONNECTED|TIMEOUT/);
    } finally {
      await provisioner.stop(machine.machineId, { graceMs: 2000 });
      await provisioner.close();
    }
    await expectNothingLeft(s.sessionId);
  });

  it('no node fits (a runtime no node is labelled for): start says what the swarm says, and leaves no service', async () => {
    const provisioner = createSwarmProvisioner({ tls: loadApiTls(swarm.apiTlsDir), nodePort: swarm.nodePort, image: SESSION_IMAGE, runtime: 'kata', controlPlane: randomBytes(12).toString('hex'), env: {}, startTimeoutMs: 3000 });
    const sessionId = randomBytes(12).toString('hex');
    const spec: MachineSpec = { sessionId, ownerId: 'o', label: 'l', connectToken: 'c', machineToken: 'm', apiUrl: 'http://127.0.0.1:9', agentCmd: ['true'], agentEnv: {}, upload: false, network: { preset: 'none', allow: [] } };
    await expect(provisioner.start(spec)).rejects.toThrow(/catty\.runtime=kata.*the swarm: .*(constraint|suitable node)/s);
    await provisioner.close();
    await expectNothingLeft(sessionId);
  });

  it('sessions on both nodes: create → upload → typing → snapshot → stop → download, nothing left behind', async () => {
    const sessions: Array<{ s: Created; node: SwarmNode }> = [];
    for (let i = 0; i < 4 && new Set(sessions.map((x) => x.node.name)).size < 2; i++) {
      const t0 = Date.now();
      const s = (await api.client.call(routes.createSession, { body: { cmd: `${KNOCK}; ${AGENT}` } }));
      const node = await nodeOf(s.id);
      console.log(`[swarm API] POST /v1/sessions (healthy through ${node.name}'s catty-node) in ${Date.now() - t0} ms`);
      expect(s).toMatchObject({ status: 'running', provisioner: 'swarm' });
      // Reached through the API's relay only: no socket, no node address handed out.
      expect(s.connectUrl.startsWith(`${api.url}/`)).toBe(true);
      expect((s as { socketPath?: string }).socketPath).toBeUndefined();
      sessions.push({ s, node });
    }
    expect(new Set(sessions.map((x) => x.node.name))).toEqual(new Set(['node1', 'node2']));

    for (const { s, node } of sessions) {
      const line = `typed-on-${node.name}`;
      const up = await runtimeFetch(s, '/upload?cols=80&rows=24', {
        method: 'POST',
        headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' },
        body: new Uint8Array(buildZip([{ name: 'hello.txt', data: `hello ${node.name}\n` }])),
      });
      expect(up.status).toBe(200);
      const client = new TestClient(sessionWs(s));
      try {
        await client.opened;
        await client.waitForText('started', 30_000);
        client.send(Buffer.from(`${line}\r`));
        await client.waitForText(`wrote ${line}`, 30_000);
      } finally {
        client.close();
      }
      await waitFor(hasSnapshot(s.label), 'a snapshot', { timeoutMs: 60_000, everyMs: 500 });
      // `catty logs --net`: the knock its node's proxy refused, collected from that node once.
      const refused = await waitFor(async () => (await api.client.call(routes.netLog, { params: { ref: s.label } })).refusals.filter((r) => r.host === 'refused.example').length || undefined, `the refusal on ${node.name} in catty logs --net`, { timeoutMs: 30_000, everyMs: 500 });
      expect(refused).toBe(1);
      const t0 = Date.now();
      expect((await api.client.call(routes.stop, { params: { ref: s.label } })).status).toBe('stopped');
      console.log(`[swarm API] stop on ${node.name} in ${Date.now() - t0} ms`);
      await expectNothingLeft(s.id);
      // The final snapshot (taken on SIGTERM) holds what was typed last.
      expect(await downloadFile(s.label, 'from-agent.txt')).toBe(`${line}\n`);
      expect(await downloadFile(s.label, 'hello.txt')).toBe(`hello ${node.name}\n`);
    }
  });

  it('a node drained mid-session while the API is down: on its start the session is reported lost, its last snapshot downloads, nothing left', async () => {
    const s = await api.client.call(routes.createSession, { body: { cmd: AGENT } });
    const node = await nodeOf(s.id);
    const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(buildZip([{ name: 'kept.txt', data: 'before the drain\n' }])) });
    expect(up.status).toBe(200);
    await waitFor(hasSnapshot(s.label), 'a snapshot', { timeoutMs: 60_000, everyMs: 500 });
    // With the API up, the runtime's exit callback on SIGTERM ends the session at once; down, only
    // its reconcile can tell.
    await api.kill();
    const t0 = Date.now();
    setAvailability(node, 'drain');
    try {
      // Swarm shuts the task down and, with restart condition none, starts no other.
      await waitFor(async () => {
        const tasks = (await swarm.nodes[0].docker.listTasks({ filters: { service: [`catty-session-${s.id}`] } })) as Array<{ Status: { State: string } }>;
        return tasks.length === 1 && tasks[0]!.Status.State !== 'running' && tasks[0]!.Status.State !== 'starting';
      }, 'the drained task to end', { timeoutMs: 60_000, everyMs: 200 });
      console.log(`[swarm API] ${node.name} drained: task ended in ${Date.now() - t0} ms`);
      await api.restart();
      const ended = await api.client.call(routes.getSession, { params: { ref: s.label } });
      expect(ended).toMatchObject({ status: 'stopped', detail: 'machine lost' });
      expect(await downloadFile(s.label, 'kept.txt')).toBe('before the drain\n');
      // Reconcile stops the service no live session owns: its volumes go through its node.
      await waitFor(async () => expectNothingLeft(s.id).then(() => true, () => false), 'the drained session’s service and volumes to be removed', { timeoutMs: 60_000, everyMs: 500 });
    } finally {
      setAvailability(node, 'active');
    }
  });

  it('the manager unreachable: catty-api does not start, saying so; mid-run, a clear error and nothing half-created; it creates again once the manager answers', async () => {
    const manager = path.join(swarm.root, `manager-${randomBytes(3).toString('hex')}.sock`);
    const port = await freePortOn(swarm.nodes[0].addr);
    const env = { ...apiEnv, CATTY_API_LISTEN: `${swarm.nodes[0].addr}:${port}`, CATTY_PUBLIC_URL: `http://${swarm.nodes[0].addr}:${port}`, CATTY_MACHINE_API_URL: `http://${swarm.nodes[0].addr}:${port}`, CATTY_SWARM_MANAGER: `unix://${manager}` };
    const said = new RegExp(`swarm manager at unix://${manager.replace(/[.]/g, '\\.')} did not answer \\(ENOENT\\).*CATTY_SWARM_MANAGER`);
    await expect(startTestApi({ env })).rejects.toThrow(said);

    // The manager's address answers while the API starts, then goes away.
    const proxy = await managerProxy(manager);
    const cut = await startTestApi({ env });
    try {
      await proxy.down();
      const services = async () => (await swarm.nodes[0].docker.listServices()).length;
      const before = await services();
      const err = await cut.client.call(routes.createSession, { body: { cmd: AGENT } }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(RouteError);
      expect((err as RouteError).status).toBe(503);
      const [failed] = (await cut.client.call(routes.listSessions)).sessions;
      expect(failed).toMatchObject({ status: 'failed' });
      expect((failed as { detail?: string }).detail).toMatch(said);
      expect(await services()).toBe(before);
      // Back: the same API creates.
      await proxy.up();
      const s = await cut.client.call(routes.createSession, { body: { cmd: AGENT, upload: false } });
      expect(s.status).toBe('running');
      expect((await cut.client.call(routes.stop, { params: { ref: s.label } })).status).toBe('stopped');
      await expectNothingLeft(s.id);
    } finally {
      await cut.close();
      await proxy.down();
    }
  });
});

/** `docker node update --availability` on the manager. */
function setAvailability(node: SwarmNode, availability: 'drain' | 'active'): void {
  const r = spawnSync('docker', ['node', 'update', '--availability', availability, node.id], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker node update --availability ${availability}: ${r.stderr}`);
}
