/**
 * catty-node's state and its control server (issue 20, item 2): ONE egress proxy for the host,
 * each session's listener (./egress-sessions.ts), and the refusals the API has not yet written.
 * The control API is ./contract.ts, served on `<nodeDir>/control.sock` (0600 in the node's 0700
 * directory) for the host's own API, or in cluster mode over mutual TLS (./tls-listen.ts) to
 * the API of a swarm, with the machines of this host (./machines.ts) and the way to their
 * runtimes (./runtime-proxy.ts).
 *
 * It lives in a process of its own so that an API restart leaves every session's way out
 * listening (SECURITY.md 35). It never removes a live session's directory: a machine's bind
 * follows the directory's inode, so a node started again listens in the same one.
 */
import fs from 'node:fs';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { EndpointTls } from '../../session-runtime/wire/runtime-address.js';
import type * as z from '../../session-runtime/wire/zod.js';
import { createEgressProxy, type EgressProxyOptions } from '../egress/index.js';
import { listenPrivateSocket } from '../egress/listener.js';
import type { Logger } from '../logger.js';
import { MACHINE_RUNTIME_PATH, NODE_PROTOCOL, SessionIdSchema, WATCH_PATH, nodeRoutes, type NodeRoute, type WatchEvent } from './contract.js';
import { createEgressSessions, ensurePrivateDir } from './egress-sessions.js';
import { NodeError, pathOf, readJson, reply, replyError, safeDecode, validate } from './http-util.js';
import { createMachineHost, type MachineHost } from './machines.js';
import { controlSocketOf, egressRootOf } from './paths.js';
import { createRefusalQueue } from './refusal-queue.js';
import { proxyRuntimeHttp, proxyRuntimeUpgrade } from './runtime-proxy.js';
import { createTlsServer, notTheApi } from './tls-listen.js';
import type { VolumeStore } from './volumes.js';

export { ensurePrivateDir } from './egress-sessions.js';

/** Refusals kept per session until the API writes them (what its table keeps). */
const REFUSALS_PER_SESSION = 500;
const WATCH_PING_MS = 15_000;
const ORPHAN_CHECK_MS = 2_000;

export interface ClusterOptions {
  host: string;
  /** 0 picks a free port (tests): NodeServer.port says which. */
  port: number;
  tls: EndpointTls;
  /** This host's engine's volumes (./volumes.ts engineVolumes). */
  volumes: VolumeStore;
}

export interface NodeServerOptions {
  nodeDir: string;
  logger: Logger;
  proxy?: Omit<EgressProxyOptions, 'onRefusal'>;
  /** With no session and no API watching for this long, `onIdle` is called (the bin exits). */
  idleExitMs?: number;
  onIdle?: () => void;
  /** Called when the control socket is no longer ours (removed or replaced): the bin exits. */
  onOrphaned?: () => void;
  /** Cluster mode: mutual TLS at host:port instead of the control socket, and the machine routes. */
  cluster?: ClusterOptions;
}

export interface NodeServer {
  /** The control socket; null in cluster mode. */
  readonly socketPath: string | null;
  /** `unix:/…/control.sock` or `https://host:port`. */
  readonly address: string;
  readonly instance: string;
  close(): Promise<void>;
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const { nodeDir, logger, cluster } = options;
  ensurePrivateDir(nodeDir);
  const egressRoot = egressRootOf(nodeDir);
  ensurePrivateDir(egressRoot);
  const instance = randomBytes(8).toString('hex');
  const queue = createRefusalQueue(REFUSALS_PER_SESSION);
  const watchers = new Set<http.ServerResponse>();
  let notified = false;

  const send = (res: http.ServerResponse, event: WatchEvent): void => void res.write(`${JSON.stringify(event)}\n`);
  const notifyRefusals = (): void => {
    if (notified) return;
    notified = true;
    for (const w of watchers) send(w, { type: 'refusals' });
  };

  const proxy = createEgressProxy({
    ...options.proxy,
    onRefusal(sessionId, refusal) {
      queue.add(sessionId, refusal);
      notifyRefusals();
    },
  });
  const sessions = createEgressSessions(proxy, logger, () => checkIdle());
  const machines: MachineHost | null = cluster ? createMachineHost({ volumes: cluster.volumes, egress: sessions, logger }) : null;
  const clusterOnly = (): MachineHost => {
    if (!machines) throw new NodeError(404, 'not_cluster', 'this catty-node holds no machines (cluster mode: --listen-tls)');
    return machines;
  };

  // Idle: no session to hold and no API watching (never in cluster mode: the bin sets no idleExitMs).
  let idleTimer: NodeJS.Timeout | null = null;
  const checkIdle = (): void => {
    const idle = sessions.size === 0 && watchers.size === 0 && options.idleExitMs !== undefined;
    if (!idle && idleTimer) {
      clearTimeout(idleTimer);
      idleTimer = null;
    } else if (idle && !idleTimer) {
      idleTimer = setTimeout(() => options.onIdle?.(), options.idleExitMs);
    }
  };

  const dirOf = (id: string): string => join(egressRoot, id);
  type Body<K extends keyof typeof nodeRoutes> = (typeof nodeRoutes)[K]['request'] extends z.ZodMiniType ? z.output<(typeof nodeRoutes)[K]['request']> : never;
  // Bodies arrive checked against their route's schema (validate, below).
  const handlers: { [K in keyof typeof nodeRoutes]: (id: string | undefined, body: unknown) => Promise<unknown> | unknown } = {
    health: () => ({ protocol: NODE_PROTOCOL, pid: process.pid, instance, sessions: sessions.size }),
    async openSession(id, body) {
      const { policy, credentials, machineUid } = body as Body<'openSession'>;
      await sessions.open(id!, dirOf(id!), policy, credentials, machineUid);
      return { egressDir: dirOf(id!) };
    },
    setPolicy(id, body) {
      sessions.setPolicy(id!, (body as Body<'setPolicy'>).policy);
      return { ok: true };
    },
    async closeSession(id) {
      await sessions.close(id!);
      fs.rmSync(dirOf(id!), { recursive: true, force: true });
      return { ok: true };
    },
    listSessions() {
      const stale = fs.readdirSync(egressRoot).filter((name) => !sessions.has(name) && SessionIdSchema.safeParse(name).success);
      return { sessions: sessions.list(), stale };
    },
    refusals: () => queue.pending(),
    ackRefusals(_id, body) {
      queue.ack((body as Body<'ackRefusals'>).upTo);
      notified = false;
      if (queue.size > 0) notifyRefusals();
      return { ok: true };
    },
    async attachMachine(id, body) {
      await clusterOnly().attach(id!, body as Body<'attachMachine'>);
      return { ok: true };
    },
    async closeMachine(id, body) {
      await clusterOnly().close(id!, (body as Body<'closeMachine'>).volumes);
      return { ok: true };
    },
    machines: () => ({ machines: clusterOnly().list().map((id) => ({ id })) }),
  };

  const table = (Object.keys(nodeRoutes) as Array<keyof typeof nodeRoutes>).map((name) => {
    const r: NodeRoute = nodeRoutes[name];
    return { name, route: r, pattern: new RegExp(`^${r.path.replace(':id', '([^/]+)')}$`) };
  });

  const server = cluster ? createTlsServer(cluster.tls, logger) : http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, maxHeaderSize: 16 * 1024 });
  // The host's node serves one API; a cluster node also carries every relayed terminal of its machines.
  server.maxConnections = cluster ? 4096 : 64;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    void handle(req, res).catch((err: unknown) => {
      const known = err instanceof NodeError ? err : null;
      if (!known) logger.error({ err: err instanceof Error ? err.message : String(err), route: `${req.method} ${pathOf(req)}` }, 'control request failed');
      replyError(res, known ?? new NodeError(500, 'internal', 'the node could not do that; see its log'));
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const found = cluster && !notTheApi(req.socket as tls.TLSSocket) ? runtimeTarget(req) : null;
    if (!found?.socketPath) return void socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    proxyRuntimeUpgrade(req, socket, head, found.socketPath, found.pathAndQuery);
  });

  /** A request for an attached machine's runtime: its socket (undefined: not attached) and path. */
  function runtimeTarget(req: http.IncomingMessage): { socketPath: string | undefined; pathAndQuery: string } | null {
    const match = MACHINE_RUNTIME_PATH.exec(pathOf(req));
    if (!match) return null;
    const id = safeDecode(match[1]!);
    const url = req.url ?? '/';
    const query = url.includes('?') ? url.slice(url.indexOf('?')) : '';
    return { socketPath: id === undefined ? undefined : machines?.runtimeSocket(id), pathAndQuery: `${match[2] ?? '/'}${query}` };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // The handshake already refused everyone else (tls-listen.ts); checked again per request.
    if (cluster) {
      const why = notTheApi(req.socket as tls.TLSSocket);
      if (why) throw new NodeError(403, 'forbidden', `only the API is served here: ${why}`);
    }
    const path = pathOf(req);
    if (req.method === 'GET' && path === WATCH_PATH) return watch(res);
    const runtime = cluster ? runtimeTarget(req) : null;
    if (runtime) {
      if (!runtime.socketPath) throw new NodeError(404, 'not_attached', 'no such machine on this node');
      return proxyRuntimeHttp(req, res, runtime.socketPath, runtime.pathAndQuery, logger);
    }
    const found = table.map((t) => ({ ...t, match: t.pattern.exec(path) })).filter((t) => t.match);
    if (found.length === 0) throw new NodeError(404, 'not_found', 'no such route');
    const hit = found.find((t) => t.route.method === req.method);
    if (!hit) throw new NodeError(405, 'method_not_allowed', `${req.method ?? '?'} is not allowed here`);
    let id: string | undefined;
    if (hit.match![1] !== undefined) {
      id = safeDecode(hit.match![1]);
      if (id === undefined || !SessionIdSchema.safeParse(id).success) throw new NodeError(400, 'invalid_request', 'not a session id');
    }
    let body: unknown = undefined;
    if (hit.route.request) body = validate(hit.route.request, await readJson(req));
    else req.resume();
    reply(res, 200, await handlers[hit.name](id, body));
  }

  function watch(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    watchers.add(res);
    checkIdle();
    send(res, { type: 'hello', instance });
    if (queue.size > 0) send(res, { type: 'refusals' });
    const ping = setInterval(() => send(res, { type: 'ping' }), WATCH_PING_MS);
    res.once('close', () => {
      clearInterval(ping);
      watchers.delete(res);
      checkIdle();
    });
  }

  const listening = cluster ? await listenTls(server, cluster) : await listenControlSocket(server, controlSocketOf(nodeDir), logger, () => options.onOrphaned?.());
  checkIdle();

  let closing: Promise<void> | undefined;
  return {
    socketPath: listening.socketPath,
    address: listening.address,
    instance,
    close() {
      closing ??= (async () => {
        if (idleTimer) clearTimeout(idleTimer);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const w of watchers) w.end();
        for (const s of sockets) s.destroy();
        await machines?.closeAll();
        await proxy.closeAll();
        await closed;
        listening.release();
      })();
      return closing;
    },
  };
}

interface Listening {
  socketPath: string | null;
  address: string;
  release(): void;
}

async function listenTls(server: http.Server, cluster: ClusterOptions): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cluster.port, cluster.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as net.AddressInfo;
  return { socketPath: null, address: `https://${address.includes(':') ? `[${address}]` : address}:${port}`, release: () => undefined };
}

async function listenControlSocket(server: http.Server, socketPath: string, logger: Logger, onOrphaned: () => void): Promise<Listening> {
  // The caller holds the node's pid lock: a socket left here is a dead node's.
  await listenPrivateSocket(server, socketPath);
  // No one can reach a node whose socket is gone (its data directory removed, or another node
  // took the path): it has nothing left to do.
  const { ino } = fs.statSync(socketPath);
  const orphanCheck = setInterval(() => {
    if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === ino) return;
    logger.warn({ socketPath }, 'the control socket is gone: no API can reach this node');
    onOrphaned();
  }, ORPHAN_CHECK_MS);
  orphanCheck.unref();
  return {
    socketPath,
    address: `unix:${socketPath}`,
    release() {
      clearInterval(orphanCheck);
      // Only our own socket (another node may have taken the path).
      if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(socketPath, { force: true });
    },
  };
}
