/**
 * One session's proxy: an HTTP server on a Unix socket (the one path the session's sandbox has
 * to the outside), with the session's policy in memory. Node parses requests; the limits that
 * keep a hostile client from costing more than its share (SECURITY.md 44) are node's own where
 * it has them — header bytes (431), time to send the headers (408, checked every
 * checkIntervalMs), connections at once (more are dropped at accept) — and ours for the rest
 * (tunnel and upstream idle time, connect and lookup deadlines, lookups in flight).
 *
 * The socket is created 0600 in a directory that must be the caller's own and closed to others
 * (0700): the directory, not a chmod after bind, is what keeps others out in between.
 */
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { NetworkPolicy, decideEgress } from '../../session-runtime/wire/network-policy.js';
import { refuse } from './admit.js';
import type { EgressLimits, OpenUpstream, SessionContext } from './context.js';
import { forwardRequest } from './forward.js';
import type { SessionCredentials } from './credentials.js';
import { createRefusalLog, type RefusalListener } from './refusal-log.js';
import { limitConcurrency, type Resolver } from './resolver.js';
import type { SessionCa } from './session-ca.js';
import { answerSocket } from './responses.js';
import { openTunnel } from './tunnel.js';

export interface SessionListenerOptions {
  sessionId: string;
  socketPath: string;
  policy: NetworkPolicy;
  resolver: Resolver;
  /** null: none were given (a restarted proxy); the model route says so. */
  credentials: SessionCredentials | null;
  ca: SessionCa | null;
  limits: EgressLimits;
  onRefusal?: RefusalListener;
  upstreamCa?: string;
}

export interface SessionListener {
  readonly sessionId: string;
  readonly socketPath: string;
  policy(): NetworkPolicy;
  /** Applies to the next request; open connections the new policy refuses are closed now. */
  setPolicy(policy: NetworkPolicy): void;
  refusals(): ReturnType<SessionContext['log']['list']>;
  stats(): { connections: number; upstreams: number; refusals: number; dropped: number };
  /** Stops accepting, ends every connection, removes the socket. Idempotent. */
  close(): Promise<void>;
}

export async function openSessionListener(options: SessionListenerOptions): Promise<SessionListener> {
  let policy = NetworkPolicy.parse(options.policy);
  const upstreams = new Set<OpenUpstream>();
  const log = createRefusalLog(options.limits.refusalLogSize, options.onRefusal);
  const ctx: SessionContext = {
    sessionId: options.sessionId,
    policy: () => policy,
    resolver: limitConcurrency(options.resolver, options.limits.maxLookups),
    credentials: options.credentials,
    ca: options.ca,
    limits: options.limits,
    log,
    upstreamCa: options.upstreamCa,
    track(upstream) {
      upstreams.add(upstream);
      return () => void upstreams.delete(upstream);
    },
  };

  const server = http.createServer({
    maxHeaderSize: options.limits.maxHeaderBytes,
    headersTimeout: options.limits.headersTimeoutMs,
    // No cap on a whole request: an upload may take long; idle time is what is bounded.
    requestTimeout: 0,
    connectionsCheckingInterval: options.limits.checkIntervalMs,
    keepAliveTimeout: 5_000,
  });
  server.maxConnections = options.limits.maxConnections;
  // Every client socket, tunnels too (node forgets those once they leave HTTP): close() ends them.
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let dropped = 0;
  server.on('drop', () => dropped++);
  server.on('request', (req, res) => void forwardRequest(ctx, req, res).catch(() => res.destroy()));
  server.on('connect', (req, socket, head) => void openTunnel(ctx, req, socket as net.Socket, head).catch(() => socket.destroy()));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Node may report one bad connection twice (the second time it is no longer writable).
    if (!socket.writable) return void socket.destroy();
    const [status, body] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'catty: egress: malformed request\n'];
    answerSocket(socket as net.Socket, status, body);
  });

  await listenPrivately(server, options.socketPath);

  let closing: Promise<void> | undefined;
  return {
    sessionId: options.sessionId,
    socketPath: options.socketPath,
    policy: () => policy,
    setPolicy(next) {
      policy = NetworkPolicy.parse(next);
      for (const upstream of [...upstreams]) {
        if (upstream.policyExempt) continue;
        const decision = decideEgress(policy, upstream.host.host, upstream.port, upstream.addresses);
        if (decision.allow) continue;
        if (decision.reason !== 'malformed') refuse(ctx, upstream.method, upstream.port, decision);
        upstreams.delete(upstream);
        upstream.close();
      }
    },
    refusals: () => log.list(),
    stats: () => ({ connections: sockets.size, upstreams: upstreams.size, refusals: log.total, dropped }),
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const upstream of upstreams) upstream.close();
        upstreams.clear();
        for (const socket of sockets) socket.destroy();
        await closed;
        fs.rmSync(options.socketPath, { force: true });
      })();
      return closing;
    },
  };
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'catty: egress: the request headers are too large\n'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'catty: egress: the request headers took too long\n'],
};

/** Binds `socketPath` inside a directory only its owner (us) can enter, then makes it 0600. */
async function listenPrivately(server: http.Server, socketPath: string): Promise<void> {
  const dir = path.dirname(socketPath);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || (stat.mode & 0o077) !== 0 || (process.getuid && stat.uid !== process.getuid())) {
    throw new Error(`egress: ${dir} must be a directory of this user closed to others (0700) to hold a proxy socket`);
  }
  // A socket left by a previous proxy goes; anything else at the path is not ours to remove.
  await listenPrivateSocket(server, socketPath);
}

/** Listens at `socketPath` (0600), replacing a socket a dead owner left there (the caller owns
 * the path: its directory is its own); anything else at the path is an error. */
export async function listenPrivateSocket(server: net.Server, socketPath: string): Promise<void> {
  const existing = fs.lstatSync(socketPath, { throwIfNoEntry: false });
  if (existing) {
    if (!existing.isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
    fs.rmSync(socketPath);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(socketPath, 0o600);
}
