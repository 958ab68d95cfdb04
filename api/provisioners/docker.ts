/**
 * The Docker provisioner: one hardened container per session from the image Dockerfile.session
 * builds (non-root, all capabilities dropped, no-new-privileges, read-only root, tmpfs /tmp and
 * agent home, a named volume per session at /workspace, memory/CPU/pids limits, optionally the
 * gVisor runtime) with no network: a loopback of its own and nothing of the host's (issue 20).
 *
 * Like a sandboxed local machine, each container has a run directory of its own on the host
 * (`<run dir>/<session id>`, CATTY_DOCKER_RUN_DIR; bound at MACHINE_RUN_DIR inside): the runtime
 * listens on `runtime.sock` there, which the API, its relay and a local CLI connect to; its own
 * requests leave through `callback.sock` (callback-gateway.ts). The agent's leave through the
 * session's egress directory, bound read-only at MACHINE_EGRESS_DIR as bubblewrap binds it:
 * catty-node listens there, gives the socket to the container's user (machineUid) and outlives
 * an API restart, so the agent's way out needs nothing of this process. The container's user
 * (AGENT_UID) must make the runtime's socket in the run directory and reach the gateway's, so a
 * root API gives it the directory and the socket, and once the runtime listens takes the
 * directory back (root-owned, 0711): the agent, the same uid as the runtime, can then neither
 * replace a socket there nor plant a link the API would follow. An API that is neither root nor
 * that uid cannot share sockets with the container and refuses to start sessions, saying so.
 *
 * Containers and volumes carry `catty.*` labels so `list()` finds them again after an API restart
 * — this control plane's only (docker-control-plane.ts): the engine may be shared — and the run
 * directory and API URL each machine's route out is opened again with. The
 * machine id is the container name (`catty-session-<sessionId>`), so `stop` stays idempotent
 * even when the container is already gone and only the volume is left.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Docker from 'dockerode';
import { MAX_SOCKET_PATH_BYTES, SOCKET_BASE_URL } from '../../session-runtime/wire/runtime-address.js';
import { silentLogger, type Logger } from '../logger.js';
import { openCallbackGateway, type CallbackGateway } from '../node/callback-gateway.js';
import { dockerOptionsFromEnv, type DockerProvisionerOptions } from './docker-config.js';
import { controlPlaneIdIn, newControlPlaneId } from './docker-control-plane.js';
import {
  AGENT_GID,
  AGENT_UID,
  DEFAULT_LIMITS,
  Label,
  containerName,
  containerOptions,
  gvisorProblem,
  sessionLabels,
  volumeName,
  type EngineRuntime,
} from './docker-spec.js';
import { demuxLogs, isConflict, isNotFound, isNotModified, pollUntil } from './docker-util.js';
import { runDirSockets } from './machine-env.js';
import type { Machine, MachineInfo, MachineSpec, Provisioner } from './types.js';

const REMOVE_RETRY_MS = 200;
const REMOVE_ATTEMPTS = 25;
/** The longest machine id's name in the run directory: a session id (api/crypto.ts newId). */
const SESSION_ID_CHARS = 24;

/** Why this API cannot share sockets with the session containers, or null. */
function ownershipProblem(): string | null {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0 || uid === AGENT_UID) return null;
  return (
    `the Docker provisioner shares Unix sockets with each session container, whose user is uid ${AGENT_UID}, ` +
    `and catty-api runs as uid ${uid}: run catty-api as root, or as uid ${AGENT_UID} (the API image does)`
  );
}

/** Whether a process listens on the gateway socket (connect accepted), within a second. */
function gatewayAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function createDockerProvisioner(explicit: DockerProvisionerOptions = {}): Provisioner {
  const fromEnv = dockerOptionsFromEnv(explicit.env ?? process.env);
  const options: DockerProvisionerOptions = { ...fromEnv, ...explicit, limits: { ...fromEnv.limits, ...explicit.limits } };
  const docker = options.docker ?? new Docker(options.socketPath ? { socketPath: options.socketPath } : undefined);
  const image = options.image ?? 'catty-session:dev';
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const logger: Logger = options.logger ?? silentLogger();
  // The engine may serve other control planes too: only what this one started is its business.
  const dataDir = options.config?.dataDir;
  const controlPlane = options.controlPlane ?? (dataDir ? controlPlaneIdIn(dataDir) : newControlPlaneId());
  const runRoot = options.runDir ?? (dataDir ? path.join(dataDir, 'docker') : null);
  if (!runRoot) throw new Error('the Docker provisioner needs a directory for the machines’ sockets (runDir, or config.dataDir)');
  const longest = runDirSockets(path.join(runRoot, `catty-session-${'x'.repeat(SESSION_ID_CHARS)}`)).runtime;
  if (Buffer.byteLength(longest) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`the run directory ${runRoot} is too deep for the sessions' sockets (${longest} would be ${Buffer.byteLength(longest)} bytes; Linux allows ${MAX_SOCKET_PATH_BYTES}): set CATTY_DOCKER_RUN_DIR (or CATTY_DATA_DIR) to a shorter path`);
  }
  const asRoot = process.getuid?.() === 0;
  const refusal = ownershipProblem();
  if (refusal) logger.warn(refusal);
  /** Each machine's route out (its callback gateway), open while this API runs. */
  const routes = new Map<string, Promise<CallbackGateway>>();
  let runtimeChecked: Promise<void> | null = null;
  let closed = false;
  logger.info({ image, runtime: options.runtime ?? 'default', limits, controlPlane, runRoot }, 'docker provisioner ready');

  const runDirOf = (machineId: string): string => path.join(runRoot, machineId);

  async function ensureImage(): Promise<void> {
    try {
      await docker.getImage(image).inspect();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      throw new Error(`session image ${image} not found: build it with infra/build-session-image.sh (or set CATTY_DOCKER_IMAGE)`);
    }
  }

  /** A gVisor runtime registered with the host's network would undo the isolation: refused. */
  function checkRuntime(): Promise<void> {
    const name = options.runtime;
    if (!name) return Promise.resolve();
    runtimeChecked ??= (async () => {
      const info = (await docker.info()) as { Runtimes?: Record<string, EngineRuntime> };
      const problem = gvisorProblem(name, info.Runtimes?.[name]);
      if (problem) throw new Error(problem);
    })();
    runtimeChecked.catch(() => (runtimeChecked = null));
    return runtimeChecked;
  }

  /** A fresh run directory the container's user can make its socket in. */
  function makeRunDir(dir: string): void {
    fs.mkdirSync(runRoot!, { recursive: true, mode: 0o700 });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { mode: 0o700 });
    if (asRoot) fs.chownSync(dir, AGENT_UID, AGENT_GID);
  }

  /** Once the runtime listens: the directory becomes root's, entered but not changed by the container. */
  function lockRunDir(dir: string): void {
    if (!asRoot) return;
    fs.chownSync(dir, 0, 0);
    fs.chmodSync(dir, 0o711);
  }

  /** Opens the machine's callback gateway in its run directory, unless it is open. */
  function openRoute(machineId: string, runDir: string, apiUrl: string): Promise<CallbackGateway> {
    let opening = routes.get(machineId);
    if (!opening) {
      opening = (async () => {
        const gatewayPath = runDirSockets(runDir).callback;
        fs.rmSync(gatewayPath, { force: true });
        const gateway = await openCallbackGateway(gatewayPath, apiUrl, logger.child({ machineId }));
        if (asRoot) fs.lchownSync(gatewayPath, AGENT_UID, AGENT_GID);
        return gateway;
      })();
      routes.set(machineId, opening);
      opening.catch(() => routes.delete(machineId));
    }
    return opening;
  }

  async function closeRoute(machineId: string): Promise<void> {
    const opening = routes.get(machineId);
    routes.delete(machineId);
    await (await opening?.catch(() => null))?.close();
  }

  async function removeAll(name: string, volume: string | undefined): Promise<void> {
    await docker.getContainer(name).remove({ force: true, v: true }).catch((error: unknown) => {
      // 409: another stop is removing it already; the volume loop below waits for that.
      if (!isNotFound(error) && !isConflict(error)) throw error;
    });
    await closeRoute(name);
    fs.rmSync(runDirOf(name), { recursive: true, force: true });
    if (!volume) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await docker.getVolume(volume).remove();
        return;
      } catch (error) {
        if (isNotFound(error)) return;
        // The engine can report the volume in use for a moment after the container went away.
        if (!isConflict(error) || attempt >= REMOVE_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, REMOVE_RETRY_MS));
      }
    }
  }

  async function tailLogs(name: string): Promise<string> {
    try {
      const logs = await docker.getContainer(name).logs({ stdout: true, stderr: true, tail: 20, follow: false });
      return demuxLogs(logs).trim();
    } catch {
      return '';
    }
  }

  /** The socket as a socket (never a link an agent planted), or undefined while it is not there. */
  function isListening(socket: string): boolean {
    return fs.lstatSync(socket, { throwIfNoEntry: false })?.isSocket() ?? false;
  }

  return {
    kind: 'docker',
    refusal,
    machineUid: AGENT_UID,

    async start(spec: MachineSpec, signal?: AbortSignal): Promise<Machine> {
      if (closed) throw new Error('docker provisioner is closed');
      if (refusal) throw new Error(refusal);
      await ensureImage();
      await checkRuntime();
      const name = containerName(spec.sessionId);
      const volume = volumeName(spec.sessionId);
      const runDir = runDirOf(name);
      const socket = runDirSockets(runDir).runtime;
      const create = containerOptions(spec, { image, runtime: options.runtime, limits, runtimeEnv: options.runtimeEnv ?? {}, runDir, controlPlane });
      try {
        signal?.throwIfAborted();
        makeRunDir(runDir);
        // Listening before the runtime starts: its first callback finds the way out open.
        await openRoute(name, runDir, spec.apiUrl);
        await docker.createVolume({ Name: volume, Labels: sessionLabels(spec, controlPlane) });
        const container = await docker.createContainer(create).catch((error: unknown) => {
          // The engine binds the run and egress directories by their paths on the engine's host.
          if (/bind source path does not exist/.test(String((error as Error).message))) {
            throw new Error(
              `${(error as Error).message}: the engine does not see ${runRoot}${spec.egressDir ? ` or ${spec.egressDir}` : ''}; when catty-api runs in a container, ` +
                'CATTY_DOCKER_RUN_DIR and CATTY_DATA_DIR must be host directories mounted at the same paths (infra/README.md)',
            );
          }
          throw error;
        });
        await container.start();
        await pollUntil(
          async () => {
            const state = await container.inspect();
            if (state.State.Status === 'exited' || state.State.Status === 'dead') {
              const logs = await tailLogs(name);
              throw new Error(`session container exited at once (code ${state.State.ExitCode})${logs ? `:\n${logs}` : ''}`);
            }
            return state.State.Running && isListening(socket) ? state : undefined;
          },
          { timeoutMs: startTimeoutMs, intervalMs: 50, what: `the runtime of ${name} to listen on ${socket}`, ...(signal ? { signal } : {}) },
        );
        lockRunDir(runDir);
        logger.info({ sessionId: spec.sessionId, machineId: name, socket }, 'session container running');
        return { machineId: name, runtimeUrl: SOCKET_BASE_URL, runtimeSocket: socket };
      } catch (error) {
        await removeAll(name, volume).catch(() => undefined);
        throw error;
      }
    },

    async stop(machineId: string, { graceMs }: { graceMs: number }): Promise<void> {
      const container = docker.getContainer(machineId);
      let volume: string | undefined;
      try {
        const info = await container.inspect();
        const sessionId = info.Config.Labels[Label.sessionId];
        volume = sessionId ? volumeName(sessionId) : undefined;
        // SIGTERM, then SIGKILL after the grace period: the runtime takes its final snapshot.
        await container.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) }).catch((error: unknown) => {
          if (!isNotModified(error) && !isNotFound(error)) throw error;
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      // Gone already: the volume is still named after the session id inside the machine id.
      volume ??= machineId.startsWith('catty-session-') ? volumeName(machineId.slice('catty-session-'.length)) : undefined;
      await removeAll(machineId, volume);
    },

    async isAlive(machineId: string): Promise<boolean> {
      try {
        return (await docker.getContainer(machineId).inspect()).State.Running;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    },

    async list(): Promise<MachineInfo[]> {
      // Another control plane's containers are not ours to reconcile (docker-control-plane.ts).
      const containers = await docker.listContainers({ all: true, filters: { label: [`${Label.managed}=true`, `${Label.controlPlane}=${controlPlane}`] } });
      const out: MachineInfo[] = [];
      for (const c of containers) {
        const sessionId = c.Labels[Label.sessionId];
        const runDir = c.Labels[Label.runDir];
        if (!sessionId || !runDir) continue;
        const machineId = (c.Names[0] ?? c.Id).replace(/^\//, '');
        const alive = c.State === 'running';
        // A restarted API: the machines it keeps need their route out again (their egress is
        // catty-node's). Replicas sharing the run directory (shared mode): only a route whose
        // gateway is dead — the replica that started the machine is gone — is opened here; one
        // another live replica serves is left to it.
        const apiUrl = c.Labels[Label.apiUrl];
        if (alive && apiUrl && (routes.has(machineId) || !(await gatewayAnswers(runDirSockets(runDir).callback)))) {
          await openRoute(machineId, runDir, apiUrl).catch((err: unknown) => logger.warn({ err, machineId }, 'could not reopen a machine’s route out'));
        }
        out.push({ machineId, runtimeUrl: SOCKET_BASE_URL, runtimeSocket: runDirSockets(runDir).runtime, sessionId, alive });
      }
      return out;
    },

    async close(): Promise<void> {
      // The machines outlive the API by design; this API's ends of their routes out close.
      closed = true;
      await Promise.all([...routes.keys()].map((id) => closeRoute(id)));
    },
  };
}
