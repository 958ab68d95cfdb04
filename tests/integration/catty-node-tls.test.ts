/**
 * catty-node in cluster mode (issue 22; SECURITY README rows 63–65): the built node with
 * certificates from the built `catty-node certs` serves the API alone over mutual TLS — no
 * certificate, another CA's, a node's own certificate as a client, and an API trusting another
 * CA are all refused before any request — and the whole control contract works over it. The
 * machine routes check what they are given (volume names, bodies). The runtime proxy reaches a
 * real `catty-session` on its Unix socket, in a directory standing in for the machine's run
 * volume (the engine's volume lookup is replaced by a directory table here; the real engine
 * runs in tests/docker/cluster-node.test.ts): healthz, a WebSocket terminal and an upload
 * through the node, with the API's own code (requestRuntime, runtimeUrl). Then what a hostile
 * machine can plant in its run volume — a runtime.sock that is a link to a host socket, a
 * callback.sock that is a link to a host file, its directory swapped for a link after the
 * attach, a volume directory that is a link — leads the node nowhere else and chowns nothing
 * outside.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import https from 'node:https';
import path from 'node:path';
import { Readable } from 'node:stream';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCallError } from '../../api/node/client.js';
import { MAX_BODY_BYTES, nodeRoutes, VolumeLabel } from '../../api/node/contract.js';
import { loadApiTls, remoteNode, type RemoteNode } from '../../api/node/remote.js';
import { startNodeServer, type NodeServer } from '../../api/node/server.js';
import { loadNodeTls } from '../../api/node/tls-listen.js';
import type { VolumeInfo, VolumeStore } from '../../api/node/volumes.js';
import { silentLogger } from '../../api/logger.js';
import { relayHttp } from '../../api/relay/http-relay.js';
import { requestRuntime } from '../../api/services/runtime-client.js';
import type { EndpointTls } from '../../session-runtime/wire/runtime-address.js';
import { onCleanup } from '../helpers/cleanup.js';
import { NODE_BIN, makeCerts, runtimeWs, startClusterNode, type ClusterCerts } from '../helpers/cluster-node.js';
import { policy } from '../helpers/egress.js';
import { startRuntime, type RuntimeProcess } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const MACHINE_UID = 1000;
let root: string;
let certs: ClusterCerts;
let other: ClusterCerts;
let apiTls: EndpointTls;

beforeAll(() => {
  root = tempDir('node-tls');
  certs = makeCerts(root);
  other = makeCerts(root, 'other');
  apiTls = loadApiTls(certs.apiDir);
}, 60_000);

const read = (dir: string, name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');

/** A client certificate (clientAuth) the cluster CA in `caDir` signs, naming `cn`. */
function issueClientCert(caDir: string, cn: string): { cert: string; key: string } {
  const caCert = forge.pki.certificateFromPem(read(caDir, 'ca.pem'));
  const caKey = forge.pki.privateKeyFromPem(read(caDir, 'ca-key.pem'));
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([{ name: 'extKeyUsage', clientAuth: true }]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** One HTTPS GET /healthz with this TLS material; resolves with the status or rejects. */
function probe(url: string, tls: Partial<EndpointTls>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${url}/healthz`, { ...tls, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('a cluster node serves the API alone (63)', () => {
  it('63: no certificate, another CA, a node certificate as a client, an API trusting another CA: refused; the API: served', async () => {
    const node = await startClusterNode(certs.nodeDir, path.join(root, 'nd-63'), { CATTY_NODE_DOCKER_SOCKET: path.join(root, 'no-engine.sock') });
    expect(await probe(node.url, apiTls)).toBe(200);
    const ca = read(certs.apiDir, 'ca.pem');
    await expect(probe(node.url, { ca })).rejects.toThrow();
    await expect(probe(node.url, { ca, cert: read(other.apiDir, 'api.pem'), key: read(other.apiDir, 'api-key.pem') })).rejects.toThrow();
    await expect(probe(node.url, { ca, cert: read(certs.nodeDir, 'node.pem'), key: read(certs.nodeDir, 'node-key.pem') })).rejects.toThrow();
    // Signed by the cluster's CA for client authentication, but not the API's (CN): refused too.
    const stranger = issueClientCert(path.join(root, 'out-ca'), 'catty-worker');
    await expect(probe(node.url, { ca, ...stranger })).rejects.toThrow();
    expect(await probe(node.url, { ca, ...issueClientCert(path.join(root, 'out-ca'), 'catty-api') })).toBe(200);
    // The API checks the node too: a node of another cluster is not one of ours.
    await expect(probe(node.url, { ...apiTls, ca: read(other.apiDir, 'ca.pem') })).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    // The refusals were the handshake's: the node logged them and serves on.
    expect(node.stderr()).toBe('');
    expect(await probe(node.url, apiTls)).toBe(200);
    // A later run adds a node under the same CA: the CA is made once.
    const caBefore = read(path.join(root, 'out-ca'), 'ca.pem');
    const again = spawnSync(process.execPath, [NODE_BIN, 'certs', '--out', path.join(root, 'out'), '--ca-dir', path.join(root, 'out-ca'), '--node', 'node2.example'], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(read(path.join(root, 'out-ca'), 'ca.pem')).toBe(caBefore);
    const added = new X509Certificate(read(path.join(root, 'out', 'nodes', 'node2.example'), 'node.pem'));
    expect([added.subjectAltName, added.checkIssued(new X509Certificate(caBefore))]).toEqual(['DNS:node2.example', true]);
    expect(new X509Certificate(read(certs.nodeDir, 'node.pem')).subjectAltName).toBe('IP Address:127.0.0.1');
    // certs wrote private files in private directories.
    for (const dir of [certs.nodeDir, certs.apiDir, path.join(root, 'out-ca')]) {
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    }
  });

  it('the control contract over TLS; hostile input to the machine routes is a 4xx (65)', async () => {
    const node = await startClusterNode(certs.nodeDir, path.join(root, 'nd-65'), { CATTY_NODE_DOCKER_SOCKET: path.join(root, 'no-engine.sock') });
    const remote = remoteNode(node.url, apiTls);
    const events: string[] = [];
    const watch = remote.watch(
      (e) => events.push(e.type),
      () => undefined,
    );
    onCleanup(() => watch.close());
    await waitFor(() => events.includes('hello'), 'the watch hello');
    const opened = await remote.call(nodeRoutes.openSession, { id: 'abc', body: { policy: policy('none'), credentials: { inject: [] }, machineUid: MACHINE_UID } });
    expect(fs.lstatSync(path.join(opened.egressDir, 'proxy.sock')).uid).toBe(MACHINE_UID);
    await remote.call(nodeRoutes.setPolicy, { id: 'abc', body: { policy: policy('full') } });
    expect((await remote.call(nodeRoutes.listSessions)).sessions).toEqual([{ id: 'abc', policy: policy('full'), credentials: false }]);
    expect((await remote.call(nodeRoutes.refusals)).refusals).toEqual([]);
    await remote.call(nodeRoutes.ackRefusals, { body: { upTo: 0 } });
    await remote.call(nodeRoutes.closeSession, { id: 'abc' });
    expect(await remote.machines()).toEqual([]);

    const status = (p: Promise<unknown>): Promise<number> => p.then(() => 200, (e: unknown) => (e instanceof NodeCallError ? e.status : -1));
    const attach = { apiUrl: 'http://127.0.0.1:9/', machineUid: MACHINE_UID, policy: policy('none'), credentials: { inject: [] }, timeoutMs: 200 };
    // Another session's volumes, a host path, any other volume: refused before the engine is asked.
    expect(await status(remote.attachMachine('abc', { ...attach, runVolume: 'catty-run-xyz', egressVolume: 'catty-egress-abc' }))).toBe(400);
    expect(await status(remote.attachMachine('abc', { ...attach, runVolume: 'catty-ws-abc', egressVolume: 'catty-egress-abc' }))).toBe(400);
    expect(await status(remote.attachMachine('abc', { ...attach, runVolume: '/var/run', egressVolume: 'catty-egress-abc' }))).toBe(400);
    expect(await status(remote.attachMachine('abc', { ...attach, runVolume: 'postgres-data', egressVolume: 'catty-egress-abc' }))).toBe(400);
    expect(await status(remote.closeMachine('abc', ['catty-ws-xyz']))).toBe(400);
    expect(await status(remote.closeMachine('abc', ['portainer_data']))).toBe(400);
    expect(await status(remote.closeMachine('../x', ['catty-ws-abc']))).toBe(400);
    // Right names, but no engine where the node looks: a 503 that says what to check.
    const noEngine = remote.attachMachine('abc', { ...attach, runVolume: 'catty-run-abc', egressVolume: 'catty-egress-abc' });
    await expect(noEngine).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/CATTY_NODE_DOCKER_SOCKET/) });
    // An oversized body: 413, read no further.
    const huge = { ...attach, runVolume: 'catty-run-abc', egressVolume: 'catty-egress-abc', credentials: { inject: [{ host: 'a', port: 1, header: 'x', value: 'v'.repeat(MAX_BODY_BYTES) }] } };
    expect(await status(remote.attachMachine('abc', huge))).toBe(413);
    // The runtime of a machine that is not attached: 404, nothing forwarded.
    const answer = await requestRuntime(remote.runtimeEndpoint('abc'), '/healthz', { timeoutMs: 5000, maxBytes: 4096 });
    expect(answer.status).toBe(404);
    expect(answer.body.toString()).toMatch(/not_attached/);
    expect(await probe(node.url, apiTls)).toBe(200);
  });
});

/** A directory table standing in for this host's engine (tests/docker/ runs the real one). */
function directoryVolumes(): VolumeStore & { add(name: string, dir: string, sessionId: string): void; removed: string[] } {
  const table = new Map<string, VolumeInfo>();
  const removed: string[] = [];
  return {
    removed,
    add(name, dir, sessionId) {
      table.set(name, { name, mountpoint: dir, labels: { [VolumeLabel.managed]: 'true', [VolumeLabel.sessionId]: sessionId }, driver: 'local', options: {} });
    },
    inspect: async (name) => table.get(name) ?? null,
    async remove(name) {
      if (!table.delete(name)) return 'gone';
      removed.push(name);
      return 'removed';
    },
  };
}

async function inProcessNode(volumes: VolumeStore): Promise<{ server: NodeServer; remote: RemoteNode }> {
  const server = await startNodeServer({ nodeDir: path.join(tempDir('nd'), 'node'), logger: silentLogger(), cluster: { host: '127.0.0.1', port: 0, tls: loadNodeTls(certs.nodeDir), volumes } });
  onCleanup(() => server.close());
  return { server, remote: remoteNode(server.address, apiTls) };
}

/** A host service a machine would love to reach: counts who connects. */
async function hostSocket(file: string): Promise<{ connections: () => number }> {
  let count = 0;
  const server = http.createServer((_req, res) => res.end('host'));
  server.on('connection', () => count++);
  await new Promise<void>((resolve) => server.listen(file, resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return { connections: () => count };
}

describe('the runtime through its node', () => {
  let rt: RuntimeProcess;
  beforeAll(async () => {
    rt = await startRuntime({ listen: 'unix' });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  it('attach, healthz, a terminal and an upload through the node; close removes the volumes', async () => {
    const volumes = directoryVolumes();
    const id = 'sess1';
    const egressDir = fs.mkdtempSync(path.join(rt.dir, 'egress-'));
    volumes.add(`catty-run-${id}`, rt.dir, id);
    volumes.add(`catty-egress-${id}`, egressDir, id);
    const { remote } = await inProcessNode(volumes);
    const request = { runVolume: `catty-run-${id}`, egressVolume: `catty-egress-${id}`, apiUrl: 'http://127.0.0.1:9/', machineUid: MACHINE_UID, policy: policy('none'), credentials: { inject: [] } };
    await remote.attachMachine(id, request);
    await remote.attachMachine(id, request); // idempotent
    expect(await remote.machines()).toEqual([id]);
    // The run directory is the node's now; the machine's sockets are the machine's.
    const runStat = fs.statSync(rt.dir);
    expect([runStat.uid, runStat.mode & 0o777]).toEqual([0, 0o711]);
    expect(fs.lstatSync(path.join(rt.dir, 'callback.sock')).uid).toBe(MACHINE_UID);
    expect(fs.lstatSync(path.join(egressDir, 'proxy.sock')).uid).toBe(MACHINE_UID);

    const endpoint = remote.runtimeEndpoint(id);
    expect(endpoint.url).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:\\d+/v1/machines/${id}/runtime$`));
    const health = await requestRuntime(endpoint, '/healthz', { timeoutMs: 5000, maxBytes: 4096 });
    expect(health.status).toBe(200);

    // The upload first: the runtime starts its agent once the workspace is in.
    const zip = buildZip([{ name: 'hello.txt', data: 'via node' }]);
    const uploaded = await requestRuntime(endpoint, '/upload?cols=80&rows=24', {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.token}`, 'content-type': 'application/zip', 'content-length': String(zip.length) },
      body: Readable.from([zip]),
      timeoutMs: 15_000,
      maxBytes: 64 * 1024,
    });
    expect(uploaded.status).toBe(200);
    expect(fs.readFileSync(path.join(rt.workspace, 'hello.txt'), 'utf8')).toBe('via node');

    const term = runtimeWs(endpoint, rt.token);
    await term.opened;
    await waitFor(() => term.text().includes('READY'), 'the agent through the node');
    term.ws.send(Buffer.from('through-the-node'), { binary: true });
    await waitFor(() => term.text().includes('through-the-node'), 'the echo through the node');
    term.ws.close();

    // The API's relay (api/relay/http-relay.ts) through the node: its base path and TLS kept.
    const relay = http.createServer((req, res) => relayHttp(req, res, { runtime: endpoint, connectToken: rt.token, pathAndQuery: '/logs' }, silentLogger()));
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => relay.close(resolve)));
    const logs = await fetch(`http://127.0.0.1:${(relay.address() as AddressInfo).port}/`);
    expect(logs.status).toBe(200);
    expect(await logs.text()).toContain('through-the-node');

    await remote.closeMachine(id, [`catty-run-${id}`, `catty-egress-${id}`, `catty-ws-${id}`]);
    expect(volumes.removed).toEqual([`catty-run-${id}`, `catty-egress-${id}`]);
    expect(await remote.machines()).toEqual([]);
    expect((await requestRuntime(endpoint, '/healthz', { timeoutMs: 5000, maxBytes: 4096 })).status).toBe(404);
    await remote.closeMachine(id, [`catty-run-${id}`]); // idempotent
  });
});

describe('a node started again', () => {
  it('attaches the same machine again (the API reconciles with machines()): its runtime, its sockets', async () => {
    const rt = await startRuntime({ listen: 'unix' });
    onCleanup(() => rt.stop());
    const volumes = directoryVolumes();
    const egressDir = fs.mkdtempSync(path.join(rt.dir, 'egress-'));
    volumes.add('catty-run-again', rt.dir, 'again');
    volumes.add('catty-egress-again', egressDir, 'again');
    const request = { runVolume: 'catty-run-again', egressVolume: 'catty-egress-again', apiUrl: 'http://127.0.0.1:9/', machineUid: MACHINE_UID, policy: policy('none'), credentials: { inject: [] } };
    const first = await inProcessNode(volumes);
    await first.remote.attachMachine('again', request);
    await first.server.close();
    const second = await inProcessNode(volumes);
    expect(await second.remote.machines()).toEqual([]);
    await second.remote.attachMachine('again', request);
    expect((await requestRuntime(second.remote.runtimeEndpoint('again'), '/healthz', { timeoutMs: 5000, maxBytes: 4096 })).status).toBe(200);
    expect(fs.lstatSync(path.join(rt.dir, 'callback.sock')).isSocket()).toBe(true);
    expect(fs.lstatSync(path.join(egressDir, 'proxy.sock')).uid).toBe(MACHINE_UID);
  });
});

describe('a hostile machine’s run volume (64)', () => {
  /** A stand-in runtime: an HTTP server on `<dir>/runtime.sock` answering `runtime`. */
  async function fakeRuntime(dir: string): Promise<void> {
    const server = http.createServer((_req, res) => res.end('runtime'));
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'runtime.sock'), resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
  }
  const request = (id: string, timeoutMs = 800) => ({ runVolume: `catty-run-${id}`, egressVolume: `catty-egress-${id}`, apiUrl: 'http://127.0.0.1:9/', machineUid: MACHINE_UID, policy: policy('none'), credentials: { inject: [] }, timeoutMs });
  const status = (p: Promise<unknown>): Promise<number> => p.then(() => 200, (e: unknown) => (e instanceof NodeCallError ? e.status : -1));

  function machine(volumes: ReturnType<typeof directoryVolumes>, id: string): { run: string; egress: string; host: string } {
    const base = tempDir('hostile');
    const [run, egress, host] = ['run', 'egress', 'host'].map((n) => path.join(base, n)) as [string, string, string];
    for (const d of [run, egress, host]) fs.mkdirSync(d);
    fs.chownSync(run, MACHINE_UID, MACHINE_UID);
    volumes.add(`catty-run-${id}`, run, id);
    volumes.add(`catty-egress-${id}`, egress, id);
    return { run, egress, host };
  }

  it('64: runtime.sock planted as a link to a host socket: never a runtime; the node connects nowhere and takes nothing', async () => {
    const volumes = directoryVolumes();
    const m = machine(volumes, 'h1');
    const host = await hostSocket(path.join(m.host, 'docker.sock'));
    fs.symlinkSync(path.join(m.host, 'docker.sock'), path.join(m.run, 'runtime.sock'));
    const { remote } = await inProcessNode(volumes);
    expect(await status(remote.attachMachine('h1', request('h1')))).toBe(504);
    expect(host.connections()).toBe(0);
    expect(fs.statSync(m.run).uid).toBe(MACHINE_UID); // not taken: nothing was attached
    expect(await remote.machines()).toEqual([]);
  });

  it('64: callback.sock planted as a link to a host file: removed, not followed — the file keeps its owner and mode', async () => {
    const volumes = directoryVolumes();
    const m = machine(volumes, 'h2');
    const precious = path.join(m.host, 'shadow');
    fs.writeFileSync(precious, 'secret', { mode: 0o640 });
    fs.symlinkSync(precious, path.join(m.run, 'callback.sock'));
    await fakeRuntime(m.run);
    const { remote } = await inProcessNode(volumes);
    await remote.attachMachine('h2', request('h2'));
    const stat = fs.statSync(precious);
    expect([stat.uid, stat.mode & 0o777, fs.readFileSync(precious, 'utf8')]).toEqual([0, 0o640, 'secret']);
    expect(fs.lstatSync(path.join(m.run, 'callback.sock')).isSocket()).toBe(true);
  });

  it('64: the run directory swapped for a link after the attach: the node still reaches the machine’s own socket, never the host’s', async () => {
    const volumes = directoryVolumes();
    const m = machine(volumes, 'h3');
    await fakeRuntime(m.run);
    const { remote } = await inProcessNode(volumes);
    await remote.attachMachine('h3', request('h3'));
    const host = await hostSocket(path.join(m.host, 'runtime.sock'));
    fs.renameSync(m.run, `${m.run}.moved`);
    fs.symlinkSync(m.host, m.run);
    const answer = await requestRuntime(remote.runtimeEndpoint('h3'), '/', { timeoutMs: 5000, maxBytes: 4096 });
    expect(answer.body.toString()).toBe('runtime');
    expect(host.connections()).toBe(0);
  });

  it('64: a volume whose directory is a link (to a host directory): refused, nothing there chowned', async () => {
    const volumes = directoryVolumes();
    const m = machine(volumes, 'h4');
    fs.mkdirSync(path.join(m.host, 'etc'), { mode: 0o755 });
    await fakeRuntime(path.join(m.host, 'etc'));
    fs.rmSync(m.run, { recursive: true });
    fs.symlinkSync(path.join(m.host, 'etc'), m.run);
    const { remote } = await inProcessNode(volumes);
    expect(await status(remote.attachMachine('h4', request('h4')))).toBe(409);
    const stat = fs.statSync(path.join(m.host, 'etc'));
    expect(stat.mode & 0o777).toBe(0o755);
    expect(fs.existsSync(path.join(m.host, 'etc', 'callback.sock'))).toBe(false);
    // The same for the egress volume.
    const n = machine(volumes, 'h5');
    await fakeRuntime(n.run);
    fs.rmSync(n.egress, { recursive: true });
    fs.symlinkSync(path.join(m.host, 'etc'), n.egress);
    expect(await status(remote.attachMachine('h5', request('h5')))).toBe(409);
    expect(fs.statSync(path.join(m.host, 'etc')).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(path.join(m.host, 'etc', 'proxy.sock'))).toBe(false);
  });
});
