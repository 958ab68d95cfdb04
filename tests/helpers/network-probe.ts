/**
 * The host's side of SECURITY.md 38/39 (tests/fixtures/probes/network-probe.mjs), for every
 * provisioner's test (tests/security/network.test.ts: bubblewrap; tests/docker/: containers):
 * listeners this test starts and counts hits on (TCP on 127.0.0.1, 127.0.0.2 and every address,
 * UDP, an abstract Unix socket, a socket path), every TCP port and Unix socket the host already
 * has, and the probe's configuration naming all of them plus the API, the storage server,
 * another session's sockets and the runtime's route out tried as the agent.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { routes } from '../../api/contract/routes.js';
import { REPO_ROOT } from './paths.js';
import { tempDir } from './temp-dir.js';

export const NETWORK_PROBE = readFileSync(join(REPO_ROOT, 'tests/fixtures/probes/network-probe.mjs'));

/** A host listener that counts what reaches it. */
export interface Counted {
  what: string;
  host: string;
  port: number;
  hits: number;
  close(): Promise<void>;
}

const closeNet = (server: net.Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

async function tcpListener(what: string, host: string): Promise<Counted> {
  const counted = { what, host, port: 0, hits: 0 } as Counted;
  const server = net.createServer((socket) => {
    counted.hits += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  counted.port = (server.address() as net.AddressInfo).port;
  counted.close = () => closeNet(server);
  return counted;
}

async function udpListener(what: string, host: string): Promise<Counted> {
  const counted = { what, host, port: 0, hits: 0 } as Counted;
  const socket = dgram.createSocket('udp4');
  socket.on('message', () => (counted.hits += 1));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  counted.port = socket.address().port;
  counted.close = () => new Promise((resolve) => socket.close(() => resolve()));
  return counted;
}

async function unixListener(what: string, path: string): Promise<Counted> {
  const counted = { what, host: path, port: 0, hits: 0 } as Counted;
  const server = net.createServer((socket) => {
    counted.hits += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  counted.close = () => closeNet(server);
  return counted;
}

/**
 * The host's Unix sockets from /proc/net/unix: abstract names (without the leading NUL) and
 * paths. The kernel shows NULs as '@': node pads an abstract name with NULs to the whole
 * sun_path, so trailing '@'s are dropped (the probe tries each name padded as node binds it, and
 * at its exact length as other programs — X11, D-Bus — bind theirs).
 */
function hostUnixSockets(): { abstract: string[]; paths: string[] } {
  const abstract = new Set<string>();
  const paths = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const name = line.trim().split(/\s+/).slice(7).join(' ');
    if (name.startsWith('@')) abstract.add(name.slice(1).replace(/@+$/, ''));
    else if (name.startsWith('/')) paths.add(name);
  }
  return { abstract: [...abstract], paths: [...paths] };
}

/** Every TCP port listening on this host (its namespace), from /proc/net/tcp{,6}. */
function hostTcpPorts(): number[] {
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A') ports.add(parseInt(f[1]!.split(':').pop()!, 16));
    }
  }
  return [...ports];
}

/** What the runtime's route out is tried for, as the agent: each must be refused (403). */
export const ROUTE_TRIES = ['api-user-route', 'api-connect-info', 'storage-list', 'storage-delete', 'storage-put-unsigned', 'elsewhere'];

export interface ProbeTargets {
  /** Listeners this test started: none may count a hit. */
  listeners: Counted[];
  /** The probe's settings (net-probe-config.b64, base64 JSON). */
  config: {
    tcp: Array<{ what: string; host: string; port: number }>;
    udp: Array<{ what: string; host: string; port: number }>;
    abstract: string[];
    paths: string[];
    route: { socket: string; tries: Array<{ what: string; method: string; url: string }> };
  };
  close(): Promise<void>;
}

/** Starts the counted listeners and names every target; `other` is another session's runtime
 * socket on the host (its directory and gateway socket are targets too). */
export async function probeTargets(options: { apiUrl: string; storageUrl: string; dataDir: string; other: { id: string; socketPath: string } }): Promise<ProbeTargets> {
  const apiPort = Number(new URL(options.apiUrl).port);
  const storagePort = Number(new URL(options.storageUrl).port);
  const abstractName = `catty-test-${randomBytes(8).toString('hex')}`;
  const listeners = [
    await tcpListener('listener-127.0.0.1', '127.0.0.1'),
    await tcpListener('listener-127.0.0.2', '127.0.0.2'),
    await tcpListener('listener-any', '0.0.0.0'),
    await udpListener('udp-127.0.0.1', '127.0.0.1'),
    await udpListener('udp-127.0.0.2', '127.0.0.2'),
    await unixListener('abstract', `\0${abstractName}`),
    await unixListener('host-socket-path', join(tempDir('host-sock'), 'host.sock')),
  ];
  const [tcpLo, tcpLo2, tcpAny, udpLo, udpLo2, , hostPath] = listeners;
  const hostAddresses = Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
  const tcp = [
    { what: 'api', host: '127.0.0.1', port: apiPort },
    { what: 'storage', host: '127.0.0.1', port: storagePort },
    { what: tcpLo!.what, host: '127.0.0.1', port: tcpLo!.port },
    { what: tcpLo2!.what, host: '127.0.0.2', port: tcpLo2!.port },
    ...hostAddresses.map((host) => ({ what: `${tcpAny!.what}@${host}`, host, port: tcpAny!.port })),
    ...hostAddresses.flatMap((host) => [apiPort, storagePort].map((port) => ({ what: `api-or-storage@${host}`, host, port }))),
    ...hostTcpPorts().map((port) => ({ what: 'host-port', host: '127.0.0.1', port })),
  ];
  const udp = [
    { what: udpLo!.what, host: '127.0.0.1', port: udpLo!.port },
    { what: udpLo2!.what, host: '127.0.0.2', port: udpLo2!.port },
  ];
  const host = hostUnixSockets();
  if (!host.abstract.includes(abstractName)) throw new Error('the test’s abstract socket is not in /proc/net/unix');
  const otherRun = dirname(options.other.socketPath);
  const { storageUrl: storage, apiUrl: api, other } = options;
  const config = {
    tcp,
    udp,
    abstract: host.abstract,
    // (A sandbox's own sockets are named /run/catty/… inside it: not a path of the host.)
    paths: [...new Set([...host.paths.filter((p) => !/^\/run\/catty(-egress)?\//.test(p)), hostPath!.host, other.socketPath, join(otherRun, 'callback.sock'), otherRun, options.dataDir])],
    route: {
      socket: '/run/catty/callback.sock',
      tries: [
        { what: 'api-user-route', method: 'GET', url: `${api}${routes.listSessions.path}` },
        { what: 'api-connect-info', method: 'GET', url: `${api}/v1/sessions/${other.id}/connect` },
        { what: 'storage-list', method: 'GET', url: `${storage}/catty/` },
        { what: 'storage-delete', method: 'DELETE', url: `${storage}/catty/sessions/${other.id}/snapshots/x.tar.gz` },
        { what: 'storage-put-unsigned', method: 'PUT', url: `${storage}/catty/sessions/${other.id}/snapshots/x.tar.gz` },
        { what: 'elsewhere', method: 'GET', url: `http://127.0.0.1:${tcpLo!.port}/` },
      ],
    },
  };
  return {
    listeners,
    config,
    close: async () => {
      for (const l of listeners) await l.close();
    },
  };
}

/** The embedded storage server's address, from the API's log. */
export function embeddedStorageUrl(apiOutput: string): string {
  const storage = /"endpoint":"(http:\/\/127\.0\.0\.1:\d+)".*embedded S3 server started/.exec(apiOutput)?.[1];
  if (!storage) throw new Error(`no embedded storage address in the API log: ${apiOutput.slice(0, 2000)}`);
  return storage;
}
