/**
 * Wires a session, its HTTP server, snapshots and API callbacks together and owns the order of
 * shutdown. `startRuntime` returns once the server listens; `stop` is idempotent and bounded.
 */
import fs from 'node:fs/promises';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { agentStateDir, ensureAgentHome } from './agent-home.js';
import { spawnPtyAgent, type AgentExit, type SpawnAgent } from './agent.js';
import { httpCallbacks, type ApiCallbacks } from './callbacks.js';
import type { RuntimeConfig } from './config.js';
import { egressAgentEnv } from './agent-env.js';
import { startEgressBridge } from './egress-bridge.js';
import { prepareEgressTrust } from './egress-trust.js';
import { createHttpServer } from './http-server.js';
import { outboundFor } from './outbound.js';
import { DEFAULT_COLS, DEFAULT_ROWS } from './wire/protocol.js';
import { READY_LINE_PREFIX } from './wire/runtime-env.js';
import { formatReadyAddress, type ListenAddress } from './wire/runtime-address.js';
import { Session } from './session.js';
import { Snapshotter } from './snapshots.js';

/** Time the final snapshot may take on stop. */
export const FINAL_SNAPSHOT_BUDGET_MS = 20_000;
/** Time a git bundle being sent may hold the end of the session. */
export const GIT_BUNDLE_BUDGET_MS = 60_000;
/** Time the client that asked to fetch the agent's branches at its exit has to send its request. */
export const GIT_REQUEST_WAIT_MS = 15_000;
/** Time the agent gets after SIGHUP before SIGKILL. */
export const AGENT_GRACE_MS = 3_000;

export interface RuntimeHandle {
  /** What the ready line names: `http://HOST:PORT` or `unix:PATH`. */
  address: string;
  readyLine: string;
  session: Session;
  /** Resolves when the runtime should exit (agent exited and the linger ended, or stop()). */
  done: Promise<void>;
  stop(reason: string): Promise<void>;
}

export interface RuntimeDeps {
  env: NodeJS.ProcessEnv;
  spawnAgent?: SpawnAgent;
  callbacks?: ApiCallbacks | null;
  log?: (line: string) => void;
}

export async function startRuntime(config: RuntimeConfig, deps: RuntimeDeps): Promise<RuntimeHandle> {
  const log = deps.log ?? (() => undefined);
  await fs.mkdir(config.workspace, { recursive: true });
  const agentHome = await ensureAgentHome(config.agentHome);
  // Before the agent can start: its environment names the bridge's port.
  const egress = config.egressSocket ? await startEgressBridge({ socketPath: config.egressSocket }) : null;
  const egressEnv = egress ? egressAgentEnv({ bridgeUrl: egress.url, modelRoute: config.modelRoute, caFile: null, caBundle: null }) : {};
  // The session CA (--inject) is read when the agent starts, once the proxy's socket is there: a
  // Swarm machine's node makes it (and ca.pem) only after this runtime listens (its attach).
  const egressReady = egress && config.egressSocket ? egressWhenReady(config.egressSocket, agentHome, egress.url, config.modelRoute, log) : undefined;
  const session = new Session({
    config,
    agentHome,
    spawnAgent: deps.spawnAgent ?? spawnPtyAgent,
    runtimeEnv: deps.env,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    proxyUrl: egress?.url ?? null,
    egressEnv,
    ...(egressReady ? { egressReady } : {}),
    log,
  });
  const send = outboundFor(config.callbackSocket);
  const api = deps.callbacks !== undefined ? deps.callbacks : config.api ? httpCallbacks(config.api.url, config.api.machineToken, send) : null;
  // The agent's conversations are kept beside each snapshot (never its credentials): `catty resume` continues them.
  const snapshots = api ? new Snapshotter(config.workspace, api, config.snapshotIntervalMs, log, config.storageTimeoutMs, send, agentStateDir(config, agentHome)) : null;
  const quiet = (p: Promise<unknown>): Promise<void> => p.then(() => undefined, (err: Error) => log(`callback failed: ${err.message}`));

  // Snapshots on request only once the workspace is in place (the agent started), like the schedule's.
  const server = createHttpServer(session, config.connectToken, () => (snapshots && session.health().agent !== 'waiting' ? snapshots.snapshotNow() : null));
  const address = await listen(server, config.listen);

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let stopping: Promise<void> | null = null;
  let linger: NodeJS.Timeout | null = null;
  let apiHeartbeat: NodeJS.Timeout | null = null;

  const sendLogs = (): Promise<void> => (api ? quiet(api.logs({ data: session.logTail().toString('base64') })) : Promise.resolve());

  void session.started.then(() => {
    snapshots?.start();
    if (api) {
      apiHeartbeat = setInterval(() => void quiet(api.heartbeat({ clients: session.relay.ownerClientCount, idleMs: Math.round(session.relay.idleMs) })), config.apiHeartbeatIntervalMs);
      apiHeartbeat.unref();
    }
  });

  session.onExit((exit: AgentExit) => {
    log(`agent exited (code ${exit.code}, signal ${exit.signal})`);
    if (stopping) return;
    void (async () => {
      if (snapshots) await snapshots.final(FINAL_SNAPSHOT_BUDGET_MS);
      await sendLogs();
      // A client that saw the exit asks for the agent's branches: the machine stays until it has them.
      await session.gitIdle(GIT_BUNDLE_BUDGET_MS, GIT_REQUEST_WAIT_MS);
      if (api) await quiet(api.exit({ code: exit.code, signal: exit.signal }));
      if (!stopping) {
        linger = setTimeout(() => void stop('session ended'), config.exitLingerMs);
        linger.unref();
      }
    })();
  });

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      if (linger) clearTimeout(linger);
      if (apiHeartbeat) clearInterval(apiHeartbeat);
      server.close();
      const agentWasRunning = session.relay.agentRunning;
      if (snapshots) await snapshots.final(FINAL_SNAPSHOT_BUDGET_MS);
      await session.stopAgent(AGENT_GRACE_MS);
      if (agentWasRunning) {
        await sendLogs();
        const exit = session.relay.exit;
        if (api && exit) await quiet(api.exit({ code: exit.code, signal: exit.signal }));
      }
      await session.close(reason);
      await egress?.close();
      server.closeAllConnections();
      resolveDone();
    })();
    return stopping;
  };

  if (config.noUpload) {
    const starting = session.startAgent(DEFAULT_COLS, DEFAULT_ROWS);
    // Waiting for the egress socket must not hold the ready line: a Swarm node makes the socket
    // once this runtime listens.
    if (egressReady) starting.catch((err: Error) => log(`the agent did not start: ${err.message}`));
    else await starting;
  }
  return { address, readyLine: `${READY_LINE_PREFIX}${address}`, session, done, stop };
}

/** How long the agent's start waits for the egress proxy's socket to appear. */
export const EGRESS_SOCKET_WAIT_MS = 60_000;

/** The agent's egress variables once the proxy's socket exists (at once where it was there
 * before the runtime: local and Docker machines), the session CA's among them. */
async function egressWhenReady(socket: string, agentHome: string, bridgeUrl: string, modelRoute: RuntimeConfig['modelRoute'], log: (line: string) => void): Promise<Record<string, string>> {
  const deadline = Date.now() + EGRESS_SOCKET_WAIT_MS;
  while (!(await fs.lstat(socket).then((st) => st.isSocket(), () => false))) {
    if (Date.now() >= deadline) {
      log(`the egress proxy's socket ${socket} did not appear within ${EGRESS_SOCKET_WAIT_MS} ms: the agent starts without its CA`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const trust = await prepareEgressTrust(socket, agentHome);
  return egressAgentEnv({ bridgeUrl, modelRoute, caFile: trust?.caFile ?? null, caBundle: trust?.caBundle ?? null });
}

/** Listens where the config says; resolves with the address the ready line names. */
async function listen(server: http.Server, where: ListenAddress): Promise<string> {
  // A socket file left by an earlier runtime of this machine would fail the bind (EADDRINUSE).
  if (where.kind === 'unix') await removeStaleSocket(where.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (where.kind === 'unix') server.listen(where.path, () => resolve());
    else server.listen(where.port, where.host, () => resolve());
  });
  if (where.kind === 'unix') {
    // Its directory is private already (the provisioner's, 0700); the socket is too.
    await fs.chmod(where.path, 0o600);
    return formatReadyAddress(where);
  }
  const bound = server.address() as AddressInfo;
  return formatReadyAddress({ kind: 'tcp', host: bound.address, port: bound.port });
}

async function removeStaleSocket(path: string): Promise<void> {
  const st = await fs.lstat(path).catch(() => null);
  if (st?.isSocket()) await fs.unlink(path);
}
