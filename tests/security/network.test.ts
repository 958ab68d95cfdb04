/**
 * SECURITY.md 38 and 39 under bubblewrap: a session has a network namespace of its own. A probe
 * (tests/fixtures/probes/network-probe.mjs) is uploaded into a session and run as the agent; it
 * tries every way to the host this test can name, and the host's side counts what arrives:
 * - 38: no TCP or UDP connection reaches the API, the embedded storage server, any other TCP
 *   port the host listens on, a listener this test starts on 127.0.0.1, one on 127.0.0.2 and one
 *   on every address (tried at each of the host's addresses);
 * - 39: no host abstract Unix socket answers (one this test binds, and every one the host has),
 *   and no host Unix socket path is visible inside — another session's runtime socket included;
 *   the only sockets in the sandbox's filesystem are its own, under /run/catty.
 * And the one route left, the runtime's own way out (api/provisioners/callback-gateway.ts),
 * tried as the agent: the API's user routes and the storage's listing are refused (403).
 *
 * Skips with a printed reason where bwrap cannot run (CI installs it, so there it runs).
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { routes } from '../../api/contract/routes.js';
import { sessionLogs, startTestApi, type TestApi } from '../helpers/api.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const PROBE = readFileSync(join(REPO_ROOT, 'tests/fixtures/probes/network-probe.mjs'));
const bwrap = findBwrap();
const why = bwrap ? bwrapProblem(bwrap) : 'bubblewrap (bwrap) is not installed';
if (why) console.log(`[security] 38, 39 skipped: ${why}`);

/** A host listener that counts what reaches it. */
interface Counted {
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

describe.skipIf(why !== null)('SECURITY.md 38, 39: a session’s own network (local provisioner, bubblewrap)', () => {
  let api: TestApi;
  const listeners: Counted[] = [];
  /** The probe's report, once it ran in a session beside another one. */
  let out = '';
  let other: { id: string; label: string; connectUrl: string; socketPath?: string; connectToken: string };
  const routeTries = ['api-user-route', 'api-connect-info', 'storage-list', 'storage-delete', 'storage-put-unsigned', 'elsewhere'];

  beforeAll(async () => {
    api = await startTestApi({ env: { CATTY_LOCAL_SANDBOX: 'bwrap' } });
    const storage = /"endpoint":"(http:\/\/127\.0\.0\.1:\d+)".*embedded S3 server started/.exec(api.output())?.[1];
    if (!storage) throw new Error(`no embedded storage address in the API log: ${api.output().slice(0, 2000)}`);
    const apiPort = Number(new URL(api.url).port);
    const storagePort = Number(new URL(storage).port);

    // Another session, whose runtime socket the probe must not see.
    other = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    expect(other.socketPath).toBe(join(api.dataDir, 'machines', other.id, 'run', 'runtime.sock'));
    expect((await runtimeFetch(other, '/healthz')).status).toBe(200);

    const abstractName = `catty-test-${randomBytes(8).toString('hex')}`;
    listeners.push(
      await tcpListener('listener-127.0.0.1', '127.0.0.1'),
      await tcpListener('listener-127.0.0.2', '127.0.0.2'),
      await tcpListener('listener-any', '0.0.0.0'),
      await udpListener('udp-127.0.0.1', '127.0.0.1'),
      await udpListener('udp-127.0.0.2', '127.0.0.2'),
      await unixListener('abstract', `\0${abstractName}`),
      await unixListener('host-socket-path', join(tempDir('host-sock'), 'host.sock')),
    );
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
    const otherRun = join(api.dataDir, 'machines', other.id, 'run');
    const config = {
      tcp,
      udp,
      abstract: host.abstract,
      // (A sandbox's own sockets are named /run/catty/… inside it: not a path of the host.)
      paths: [...new Set([...host.paths.filter((p) => !/^\/run\/catty(-egress)?\//.test(p)), hostPath!.host, other.socketPath!, join(otherRun, 'callback.sock'), otherRun, api.dataDir])],
      route: {
        socket: '/run/catty/callback.sock',
        tries: [
          { what: 'api-user-route', method: 'GET', url: `${api.url}${routes.listSessions.path}` },
          { what: 'api-connect-info', method: 'GET', url: `${api.url}/v1/sessions/${other.id}/connect` },
          { what: 'storage-list', method: 'GET', url: `${storage}/catty/` },
          { what: 'storage-delete', method: 'DELETE', url: `${storage}/catty/sessions/${other.id}/snapshots/x.tar.gz` },
          { what: 'storage-put-unsigned', method: 'PUT', url: `${storage}/catty/sessions/${other.id}/snapshots/x.tar.gz` },
          { what: 'elsewhere', method: 'GET', url: `http://127.0.0.1:${tcpLo!.port}/` },
        ],
      },
    };
    const zip = buildZip([
      { name: 'probe.mjs', data: PROBE },
      { name: 'net-probe-config.b64', data: Buffer.from(JSON.stringify(config)).toString('base64') },
    ]);
    const s = await api.client.call(routes.createSession, { body: { cmd: `exec ${process.execPath} /workspace/probe.mjs; sleep 600` } });
    const up = await runtimeFetch(s, '/upload', { method: 'POST', headers: { authorization: `Bearer ${s.connectToken}`, 'content-type': 'application/zip' }, body: new Uint8Array(zip) });
    if (up.status !== 200) throw new Error(`upload: ${up.status} ${await up.text()}`);
    out = await waitFor(async () => {
      const text = (await sessionLogs(api.client, s.label)).toString();
      return text.includes('PROBE-DONE') && text;
    }, 'the probe to finish', { timeoutMs: 120_000, everyMs: 200 });
    console.log(`38/39 probe (${tcp.length} TCP targets, ${host.abstract.length} host abstract sockets, ${config.paths.length} host socket paths):\n${out.trim()}`);
    // The probe's own controls: its connect code does connect where something answers.
    expect(out).toMatch(/^SELF-TCP ok\r?$/m);
    expect(out).toMatch(/^SELF-ABSTRACT ok\r?$/m);
    expect(out).toMatch(/^OWN-RUNTIME ok\r?$/m);
    await api.client.call(routes.stop, { params: { ref: s.label } });
  }, 180_000);
  afterAll(async () => {
    for (const l of listeners) await l.close();
    await api?.close();
  });

  it('38: no TCP or UDP from inside reaches the host — API, storage, its listening ports, 127.0.0.1, 127.0.0.2, any of its addresses', () => {
    expect(out).not.toMatch(/^TCP-CONNECTED /m);
    expect(out).toMatch(/^INTERFACES lo\r?$/m);
    // The host's side: nothing arrived at any TCP or UDP listener this test started.
    for (const l of listeners.filter((x) => x.port !== 0)) expect(l.hits, l.what).toBe(0);
  });

  it('39: no host abstract socket answers, no host socket path is visible (another session’s runtime’s included), only its own under /run/catty', async () => {
    expect(out).not.toMatch(/^ABSTRACT-CONNECTED /m);
    expect(out).not.toMatch(/^VISIBLE /m);
    for (const l of listeners.filter((x) => x.port === 0)) expect(l.hits, l.what).toBe(0);
    const sockets = [...out.matchAll(/^SOCKET (\S+)\r?$/gm)].map((m) => m[1]!);
    expect(sockets).toContain('/run/catty/runtime.sock');
    for (const p of sockets) expect(p, 'a socket file inside the sandbox').toMatch(/^\/run\/catty(-egress)?\//);
    // The other session is untouched and still answers its owner.
    expect((await runtimeFetch(other, '/healthz')).status).toBe(200);
  });

  it('38, 39: the runtime’s own route out, tried as the agent, refuses all but the runtime’s callbacks and presigned uploads (403)', () => {
    for (const what of routeTries) expect(out, what).toMatch(new RegExp(`^ROUTE ${what} 403\\r?$`, 'm'));
  });
});
