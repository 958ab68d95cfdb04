/**
 * A two-node Docker Swarm for the Swarm provisioner's tests, made and removed by the test.
 *
 * - node 1: the host's dockerd, as the manager (`docker swarm init` on a veth address), runc;
 * - node 2: a second dockerd in namespaces of its own — a network namespace joined to the host
 *   by a veth pair (a private /30), a mount namespace where its data root (/var/lib/docker) and
 *   /var/lib/catty are its own (a directory on disk bound there, then hidden on the host under
 *   an empty tmpfs: the API process, on the host, cannot see node 2's volumes — it reaches node
 *   2's sessions only through node 2's catty-node) and its /run (the host's engine and
 *   containerd sockets out of sight), a UTS namespace (its own host name), gVisor its default
 *   runtime (labelled catty.runtime=catty-runsc) — joined as a worker,
 *   the session image loaded into it (`docker save | docker load`: no registry);
 * - a catty-node in cluster mode on each node (node 2's inside its namespaces), with
 *   certificates from `catty-node certs`.
 *
 * The host engine's swarm is one per host: a lock file (SWARM_LOCK) keeps two test runs from
 * making theirs at once; a host engine already in a swarm is refused, not taken over.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { NODE_BIN } from './cluster-node.js';
import { GVISOR_RUNTIME } from './docker.js';
import { waitFor } from './wait.js';

export const SWARM_LOCK = '/tmp/catty-swarm.lock';

export interface SwarmNode {
  name: string;
  /** Its address on the veth pair (the swarm's advertise address). */
  addr: string;
  /** The Swarm node id. */
  id: string;
  /** Its engine, for the test's own checks (never given to the API). */
  docker: Docker;
  socketPath: string;
  /** Its catty-node's URL. */
  nodeUrl: string;
}

export interface TestSwarm {
  nodes: [SwarmNode, SwarmNode];
  /** CATTY_NODE_TLS_DIR for the API. */
  apiTlsDir: string;
  nodePort: number;
  /** node 2's data root on the host: hidden (an empty tmpfs over it). */
  hiddenDir: string;
  /** The test's directory (certs, logs, node 2's data). */
  root: string;
  /** The catty-nodes' and node 2's dockerd's logs, for a failure's message. */
  logs(): string;
  /** Runs `sh -c script` inside node 2's namespaces (for checks the host cannot make). */
  inNode2(script: string): { status: number | null; stdout: string; stderr: string };
  /** Everything removed: services, both catty-nodes, node 2, the swarm, the namespaces, the dirs. */
  close(): Promise<void>;
}

function run(cmd: string, args: string[], options: { input?: string; allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: options.input, maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0 && !options.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/** A free TCP port on the host (node 2's namespace has its own ports). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Holds the host-wide lock while the returned process lives (flock(1), released when it ends). */
async function takeLock(): Promise<ChildProcess> {
  const holder = spawn('flock', ['-x', SWARM_LOCK, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('locked'), `the swarm test lock ${SWARM_LOCK}`, { timeoutMs: 600_000, everyMs: 100 });
  return holder;
}

/** Starts a cluster-mode catty-node (argv prefix: how to enter its namespaces) and waits for its line. */
async function startNode(prefix: string[], args: string[], logFile: string): Promise<ChildProcess> {
  const proc = spawn(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), NODE_BIN, ...args], {
    stdio: ['ignore', 'pipe', fs.openSync(logFile, 'a')],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(
    () => {
      if (proc.exitCode !== null) throw new Error(`catty-node exited ${proc.exitCode}: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
      return /^catty-node listening on https:\/\/\S+$/m.test(out);
    },
    'a cluster catty-node to listen',
    { timeoutMs: 20_000, everyMs: 20 },
  );
  return proc;
}

export async function makeSwarm(options: { image: string; log?: (line: string) => void }): Promise<TestSwarm> {
  const log = options.log ?? ((line: string) => console.log(`[swarm] ${line}`));
  const started = Date.now();
  const lock = await takeLock();
  const tag = randomBytes(3).toString('hex');
  const octet = 100 + (parseInt(tag.slice(0, 2), 16) % 150);
  const [addr1, addr2] = [`10.213.${octet}.1`, `10.213.${octet}.2`];
  const netns = `catty-sw-${tag}`;
  const [veth1, veth2] = [`csw${tag}a`, `csw${tag}b`];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-swarm-'));
  const hiddenDir = path.join(root, 'node2-data');
  const socketPath = path.join(root, 'node2-docker.sock');
  const undo: Array<() => unknown> = [() => fs.rmSync(root, { recursive: true, force: true })];
  const host = new Docker();
  let dockerd2: ChildProcess | null = null;
  const nodeProcs: ChildProcess[] = [];

  const close = async (): Promise<void> => {
    for (const p of nodeProcs) p.kill('SIGTERM');
    const services = (await host.listServices({ filters: { label: ['catty.managed=true'] } }).catch(() => [])) as Array<{ ID: string }>;
    for (const s of services) await host.getService(s.ID).remove().catch(() => undefined);
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        log(`cleanup step failed: ${(err as Error).message}`);
      }
    }
    lock.stdin!.end();
  };

  try {
    const info = (await host.info()) as { Swarm?: { LocalNodeState?: string } };
    if (info.Swarm?.LocalNodeState && info.Swarm.LocalNodeState !== 'inactive') {
      throw new Error(`the host's dockerd is in a swarm already (${info.Swarm.LocalNodeState}): the test makes its own; leave it first (docker swarm leave --force)`);
    }
    // A session with no network runs in the engine's default one: only a loopback without a bridge.
    if ((await host.listNetworks({ filters: { driver: ['bridge'] } })).some((n) => n.Name === 'bridge')) {
      throw new Error('the host’s dockerd has a bridge network: swarm sessions there would get it (and refuse to start); run dockerd with --bridge=none, as .ci/run does');
    }
    // The veth pair and node 2's network namespace.
    run('ip', ['netns', 'add', netns]);
    undo.push(() => run('ip', ['netns', 'del', netns], { allowFail: true }));
    run('ip', ['link', 'add', veth1, 'type', 'veth', 'peer', 'name', veth2]);
    undo.push(() => run('ip', ['link', 'del', veth1], { allowFail: true }));
    run('ip', ['link', 'set', veth2, 'netns', netns]);
    run('ip', ['addr', 'add', `${addr1}/30`, 'dev', veth1]);
    run('ip', ['link', 'set', veth1, 'up']);
    run('ip', ['-n', netns, 'addr', 'add', `${addr2}/30`, 'dev', veth2]);
    run('ip', ['-n', netns, 'link', 'set', veth2, 'up']);
    run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);

    // Node 1: the host's engine becomes the manager (Swarm makes docker_gwbridge; it goes too).
    const hadGwBridge = (await host.listNetworks()).some((n) => n.Name === 'docker_gwbridge');
    if (!hadGwBridge) undo.push(() => run('docker', ['network', 'rm', 'docker_gwbridge'], { allowFail: true }));
    run('docker', ['swarm', 'init', '--advertise-addr', addr1, '--listen-addr', `${addr1}:2377`]);
    undo.push(() => run('docker', ['swarm', 'leave', '--force'], { allowFail: true }));

    // Node 2: its own dockerd, in its namespaces; its data on disk, bound inside, hidden outside.
    fs.mkdirSync(hiddenDir, { mode: 0o700 });
    const daemonJson = path.join(root, 'node2-daemon.json');
    // Node 2 runs its sessions under gVisor (a node's default runtime: Swarm has no per-service
    // one), labelled for it; node 1 (the host's engine) under runc.
    fs.writeFileSync(daemonJson, JSON.stringify({ 'no-new-privileges': true, 'default-runtime': GVISOR_RUNTIME, runtimes: { [GVISOR_RUNTIME]: { path: '/usr/bin/runsc', runtimeArgs: ['--network=none', '--host-uds=all'] } } }));
    const inside = [
      'set -e',
      'hostname catty-node2',
      'mount -t tmpfs -o mode=0755 tmpfs /run',
      'mount -t tmpfs -o mode=0755 tmpfs /var/lib',
      'mkdir -p /var/lib/docker /var/lib/catty',
      `mount --bind ${hiddenDir} /var/lib/docker`,
      `exec dockerd --config-file ${daemonJson} --bridge=none --iptables=false --ip6tables=false --ip-masq=false --cgroup-parent=/catty-node2-${tag} --pidfile /run/docker.pid -H unix:///run/docker.sock -H unix://${socketPath}`,
    ].join('\n');
    const dockerdLog = path.join(root, 'node2-dockerd.log');
    dockerd2 = spawn('nsenter', [`--net=/run/netns/${netns}`, 'unshare', '--mount', '--uts', '--propagation', 'private', 'sh', '-c', inside], { stdio: ['ignore', fs.openSync(dockerdLog, 'a'), fs.openSync(dockerdLog, 'a')] });
    const dockerd2Exited = new Promise((resolve) => dockerd2!.once('exit', resolve));
    undo.push(async () => {
      dockerd2!.kill('SIGTERM');
      await Promise.race([dockerd2Exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      if (dockerd2!.exitCode === null && dockerd2!.signalCode === null) dockerd2!.kill('SIGKILL');
    });
    const docker2 = new Docker({ socketPath });
    await waitFor(async () => docker2.ping().then(() => true, () => false), 'node 2’s dockerd', { timeoutMs: 30_000, everyMs: 100 }).catch((err: Error) => {
      throw new Error(`${err.message}: ${fs.existsSync(dockerdLog) ? fs.readFileSync(dockerdLog, 'utf8').slice(-1500) : ''}`);
    });
    const pid2 = dockerd2.pid!;
    // Hide node 2's data root from the host (the bind inside is not affected: private propagation).
    run('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', hiddenDir]);
    undo.push(() => run('umount', ['-l', hiddenDir], { allowFail: true }));

    const token = run('docker', ['swarm', 'join-token', '-q', 'worker']);
    run('docker', ['-H', `unix://${socketPath}`, 'swarm', 'join', '--token', token, '--advertise-addr', addr2, `${addr1}:2377`]);
    undo.push(() => run('docker', ['-H', `unix://${socketPath}`, 'swarm', 'leave', '--force'], { allowFail: true }));
    const id1 = ((await host.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
    const id2 = ((await docker2.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
    for (const id of [id1, id2]) run('docker', ['node', 'update', '--label-add', 'catty.node=true', id]);
    run('docker', ['node', 'update', '--label-add', `catty.runtime=${GVISOR_RUNTIME}`, id2]);
    log(`two nodes in ${Date.now() - started} ms; loading ${options.image} into node 2`);
    const loadStarted = Date.now();
    const load = spawnSync('sh', ['-c', `docker save ${options.image} | docker -H unix://${socketPath} load -q`], { encoding: 'utf8' });
    if (load.status !== 0) throw new Error(`loading ${options.image} into node 2 failed: ${load.stderr}`);
    log(`image loaded into node 2 in ${Date.now() - loadStarted} ms`);

    // Certificates, and a cluster catty-node on each node (node 2's in its namespaces).
    const certs = path.join(root, 'certs');
    run(process.execPath, [NODE_BIN, 'certs', '--out', certs, '--ca-dir', path.join(root, 'ca'), '--node', addr1, '--node', addr2, '--api']);
    const nodePort = await freePort();
    const node1Dir = path.join(root, 'node1-catty');
    nodeProcs.push(await startNode([], ['--listen-tls', `${addr1}:${nodePort}`, '--tls-dir', path.join(certs, 'nodes', addr1), '--dir', node1Dir], path.join(root, 'node1-catty.log')));
    nodeProcs.push(
      await startNode(['nsenter', '-t', String(pid2), '-n', '-m', '-u'], ['--listen-tls', `${addr2}:${nodePort}`, '--tls-dir', path.join(certs, 'nodes', addr2), '--dir', '/var/lib/catty/node'], path.join(root, 'node2-catty.log')),
    );
    log(`swarm ready in ${Date.now() - started} ms (node port ${nodePort})`);

    const node = (name: string, addr: string, id: string, docker: Docker, sock: string): SwarmNode => ({ name, addr, id, docker, socketPath: sock, nodeUrl: `https://${addr}:${nodePort}` });
    return {
      nodes: [node('node1', addr1, id1, host, '/var/run/docker.sock'), node('node2', addr2, id2, docker2, socketPath)],
      apiTlsDir: path.join(certs, 'api'),
      nodePort,
      hiddenDir,
      root,
      logs: () => swarmLogs(root),
      inNode2: (script) => {
        const r = spawnSync('nsenter', ['-t', String(pid2), '-n', '-m', '-u', 'sh', '-c', script], { encoding: 'utf8' });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function swarmLogs(root: string): string {
  return ['node1-catty.log', 'node2-catty.log', 'node2-dockerd.log']
    .map((name) => path.join(root, name))
    .filter((file) => fs.existsSync(file))
    .map((file) => `--- ${path.basename(file)}\n${fs.readFileSync(file, 'utf8').slice(-3000)}`)
    .join('\n');
}

/** A Unix socket at `listenPath` forwarding to `targetPath` (the manager's engine), which the
 * test takes away — every connection closed, the socket file gone (ENOENT for a new one, as for
 * a manager whose socket is not there) — and brings back. A kept-alive connection is cut too. */
export async function managerProxy(listenPath: string, targetPath = '/var/run/docker.sock'): Promise<{ up(): Promise<void>; down(): Promise<void> }> {
  const open = new Set<net.Socket>();
  let server: net.Server | null = null;
  const up = async (): Promise<void> => {
    if (server) return;
    server = net.createServer((client) => {
      const upstream = net.connect(targetPath);
      for (const s of [client, upstream]) {
        open.add(s);
        s.on('close', () => open.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server!.listen(listenPath, resolve));
  };
  const down = async (): Promise<void> => {
    const closing = server;
    server = null;
    if (!closing) return;
    for (const s of open) s.destroy();
    await new Promise((resolve) => closing.close(resolve));
    fs.rmSync(listenPath, { force: true });
  };
  await up();
  return { up, down };
}
