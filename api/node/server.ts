/**
 * catty-node's state and its control server (issue 20, item 2): ONE egress proxy for the host,
 * each session's policy and credentials in memory (never logged, never written), each session's
 * egress directory under `<nodeDir>/egress/`, and the refusals the API has not yet written. The
 * control API is ./contract.ts on `<nodeDir>/control.sock` (0600 in the node's 0700 directory).
 * A machine running as another uid (a Docker container's user) is let into its own session's
 * directory only: its socket, its CA certificate (shareSessionDir).
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
import { ErrorBody } from '../../session-runtime/wire/errors.js';
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { EGRESS_CA_NAME, EGRESS_SOCKET_NAME } from '../../session-runtime/wire/runtime-env.js';
import { MAX_SOCKET_PATH_BYTES } from '../../session-runtime/wire/runtime-address.js';
import type * as z from '../../session-runtime/wire/zod.js';
import { createEgressProxy, type EgressProxyOptions, type SessionCredentials } from '../egress/index.js';
import type { Logger } from '../logger.js';
import { MAX_BODY_BYTES, NODE_PROTOCOL, SessionIdSchema, WATCH_PATH, nodeRoutes, type NodeRoute, type WatchEvent } from './contract.js';
import { controlSocketOf, egressRootOf } from './paths.js';
import { createRefusalQueue } from './refusal-queue.js';
import { listenPrivateSocket } from '../egress/listener.js';

/** Refusals kept per session until the API writes them (what its table keeps). */
const REFUSALS_PER_SESSION = 500;
const WATCH_PING_MS = 15_000;
const ORPHAN_CHECK_MS = 2_000;

export interface NodeServerOptions {
  nodeDir: string;
  logger: Logger;
  proxy?: Omit<EgressProxyOptions, 'onRefusal'>;
  /** With no session and no API watching for this long, `onIdle` is called (the bin exits). */
  idleExitMs?: number;
  onIdle?: () => void;
  /** Called when the control socket is no longer ours (removed or replaced): the bin exits. */
  onOrphaned?: () => void;
}

export interface NodeServer {
  readonly socketPath: string;
  readonly instance: string;
  close(): Promise<void>;
}

class NodeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Held {
  policy: NetworkPolicy;
  credentials: SessionCredentials;
}

/** The node's directory must be ours and closed to others before anything is put in it. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || (stat.mode & 0o077) !== 0 || (process.getuid && stat.uid !== process.getuid())) {
    throw new Error(`${dir} must be a directory of this user closed to others (0700)`);
  }
}

/** A session directory left by an earlier node (ours, inside our 0700 tree) goes back to 0700:
 * the proxy makes its socket only in a directory closed to others. */
function closeSessionDir(dir: string): void {
  const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (stat?.isDirectory() && stat.uid === process.getuid?.()) fs.chmodSync(dir, 0o700);
}

/**
 * Lets a machine that runs as another uid (a Docker container's user) use the session's
 * directory, bound into it read-only, and nothing more: the proxy's socket becomes that uid's
 * (0600: connecting needs write permission on it), the directory 0711 (entered, not listed),
 * the CA's certificate stays 0644 (public). Other users of the host are still kept out by the
 * egress root above it (0700).
 */
function shareSessionDir(dir: string, uid: number): void {
  if (uid === process.getuid?.()) return;
  const socketPath = join(dir, EGRESS_SOCKET_NAME);
  try {
    fs.lchownSync(socketPath, uid, -1);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM') throw err;
    throw new NodeError(400, 'cannot_share', `catty-node runs as uid ${process.getuid?.()} and cannot give the session's egress socket to uid ${uid}: run it as root or as uid ${uid}`);
  }
  fs.chmodSync(socketPath, 0o600);
  const ca = join(dir, EGRESS_CA_NAME);
  if (fs.lstatSync(ca, { throwIfNoEntry: false })?.isFile()) fs.chmodSync(ca, 0o644);
  fs.chmodSync(dir, 0o711);
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const { nodeDir, logger } = options;
  ensurePrivateDir(nodeDir);
  const egressRoot = egressRootOf(nodeDir);
  ensurePrivateDir(egressRoot);
  const instance = randomBytes(8).toString('hex');
  const held = new Map<string, Held>();
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

  // Idle: no session to hold and no API watching.
  let idleTimer: NodeJS.Timeout | null = null;
  const checkIdle = (): void => {
    const idle = held.size === 0 && watchers.size === 0 && options.idleExitMs !== undefined;
    if (!idle && idleTimer) {
      clearTimeout(idleTimer);
      idleTimer = null;
    } else if (idle && !idleTimer) {
      idleTimer = setTimeout(() => options.onIdle?.(), options.idleExitMs);
    }
  };

  const dirOf = (id: string): string => join(egressRoot, id);
  // Bodies arrive checked against their route's schema (validate, below).
  const handlers: { [K in keyof typeof nodeRoutes]: (id: string | undefined, body: unknown) => Promise<unknown> | unknown } = {
    health: () => ({ protocol: NODE_PROTOCOL, pid: process.pid, instance, sessions: held.size }),
    async openSession(id, body) {
      const { policy, credentials, machineUid } = body as z.output<typeof nodeRoutes.openSession.request>;
      if (held.has(id!)) throw new NodeError(409, 'conflict', `session ${id} already has a listener`);
      const dir = dirOf(id!);
      const socketPath = join(dir, EGRESS_SOCKET_NAME);
      if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
        throw new NodeError(400, 'path_too_long', `the egress socket path ${socketPath} is longer than a Unix socket allows (${MAX_SOCKET_PATH_BYTES} bytes): use a shorter CATTY_DATA_DIR`);
      }
      held.set(id!, { policy, credentials });
      try {
        // A directory an earlier node shared (0711) is closed again while the socket is made.
        closeSessionDir(dir);
        await proxy.open(id!, socketPath, policy, credentials);
        if (machineUid !== undefined) shareSessionDir(dir, machineUid);
      } catch (err) {
        held.delete(id!);
        await proxy.close(id!);
        throw err;
      }
      checkIdle();
      // Whether it has credentials, never what they are.
      logger.info({ sessionId: id, model: credentials.model !== undefined, injectRules: credentials.inject.length, machineUid }, 'session egress opened');
      return { egressDir: dir };
    },
    setPolicy(id, body) {
      const { policy } = body as z.output<typeof nodeRoutes.setPolicy.request>;
      const session = held.get(id!);
      if (!session) throw new NodeError(404, 'not_found', `session ${id} has no listener`);
      proxy.setPolicy(id!, policy);
      session.policy = policy;
      return { ok: true };
    },
    async closeSession(id) {
      held.delete(id!);
      await proxy.close(id!);
      fs.rmSync(dirOf(id!), { recursive: true, force: true });
      checkIdle();
      logger.info({ sessionId: id }, 'session egress closed');
      return { ok: true };
    },
    listSessions() {
      const sessions = [...held].map(([id, s]) => ({ id, policy: s.policy, credentials: s.credentials.model !== undefined || s.credentials.inject.length > 0 }));
      const stale = fs.readdirSync(egressRoot).filter((name) => !held.has(name) && SessionIdSchema.safeParse(name).success);
      return { sessions, stale };
    },
    refusals: () => queue.pending(),
    ackRefusals(_id, body) {
      queue.ack((body as z.output<typeof nodeRoutes.ackRefusals.request>).upTo);
      notified = false;
      if (queue.size > 0) notifyRefusals();
      return { ok: true };
    },
  };

  const table = (Object.keys(nodeRoutes) as Array<keyof typeof nodeRoutes>).map((name) => {
    const r: NodeRoute = nodeRoutes[name];
    return { name, route: r, pattern: new RegExp(`^${r.path.replace(':id', '([^/]+)')}$`) };
  });

  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, maxHeaderSize: 16 * 1024 });
  server.maxConnections = 64;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('request', (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      const known = err instanceof NodeError ? err : null;
      if (!known) logger.error({ err: err instanceof Error ? err.message : String(err), route: `${req.method} ${pathOf(req)}` }, 'control request failed');
      reply(res, known?.status ?? 500, { error: { code: known?.code ?? 'internal', message: known?.message ?? 'the node could not do that; see its log' } } satisfies ErrorBody);
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = pathOf(req);
    if (req.method === 'GET' && path === WATCH_PATH) return watch(res);
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

  const socketPath = controlSocketOf(nodeDir);
  // The caller holds the node's pid lock: a socket left here is a dead node's.
  await listenPrivateSocket(server, socketPath);
  checkIdle();
  // No one can reach a node whose socket is gone (its data directory removed, or another node
  // took the path): it has nothing left to do.
  const { ino } = fs.statSync(socketPath);
  const orphanCheck = setInterval(() => {
    if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === ino) return;
    logger.warn({ socketPath }, 'the control socket is gone: no API can reach this node');
    options.onOrphaned?.();
  }, ORPHAN_CHECK_MS);
  orphanCheck.unref();

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    instance,
    close() {
      closing ??= (async () => {
        if (idleTimer) clearTimeout(idleTimer);
        clearInterval(orphanCheck);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const w of watchers) w.end();
        for (const s of sockets) s.destroy();
        await proxy.closeAll();
        await closed;
        // Only our own socket (another node may have taken the path).
        if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(socketPath, { force: true });
      })();
      return closing;
    },
  };
}

function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body as JSON: at most MAX_BODY_BYTES (413), JSON (400). */
function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      req.resume();
      return reject(new NodeError(413, 'too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        reject(new NodeError(413, 'too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`));
      } else chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new NodeError(400, 'invalid_request', 'the body is not JSON'));
      }
    });
  });
}

/** Checked against the route's schema; the message names the fields, never their values. */
function validate(schema: z.ZodMiniType, body: unknown): unknown {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new NodeError(400, 'invalid_request', `invalid body: ${where.join('; ')}`);
}
