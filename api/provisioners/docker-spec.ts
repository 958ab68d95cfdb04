/**
 * The pure half of the Docker provisioner: names, labels, the runtime's environment and the
 * hardened container definition for one session. Kept free of I/O so a unit test can check the
 * hardening without a Docker engine.
 *
 * A session container has no network (`--network none`: a loopback of its own, nothing of the
 * host's). Its ways in and out are Unix sockets: in its run directory, a host directory bound at
 * MACHINE_RUN_DIR, the runtime listens and the host's callback gateway waits (docker.ts); the
 * session's egress directory, where catty-node's proxy listens, is bound read-only at
 * MACHINE_EGRESS_DIR, as a local sandbox binds it.
 */
import type Docker from 'dockerode';
import type { MachineSpec } from './types.js';
import { MACHINE_CALLBACK_SOCKET, MACHINE_EGRESS_DIR, MACHINE_RUN_DIR, MACHINE_RUNTIME_SOCKET } from '../../session-runtime/wire/runtime-env.js';
import { MACHINE_EGRESS_SOCKET, machineEnv, sessionEnv } from './machine-env.js';

/** Labels every catty container and volume carries; `list()` and reconciliation filter on them. */
export const Label = {
  managed: 'catty.managed',
  sessionId: 'catty.session-id',
  owner: 'catty.owner',
  label: 'catty.label',
  /** The machine's run directory on the host (its sockets: the runtime's, the gateway's). */
  runDir: 'catty.run-dir',
  /** The API the runtime calls back, through the gateway a restarted API opens again. */
  apiUrl: 'catty.api-url',
  /** The control plane that made it (docker-control-plane.ts): an engine may serve several. */
  controlPlane: 'catty.control-plane',
} as const;

export const WORKSPACE_DIR = '/workspace';
export const AGENT_HOME_DIR = '/home/agent';
/** uid and gid of `agent` in Dockerfile.session: the container's user, who must be able to make
 * the runtime's socket in the run directory and connect to the host's sockets (catty-node gives
 * it the session's egress socket: Provisioner.machineUid). */
export const AGENT_UID = 1000;
export const AGENT_GID = 1000;
export const AGENT_USER = `${AGENT_UID}:${AGENT_GID}`;

export interface ContainerLimits {
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  tmpBytes: number;
  homeBytes: number;
}

/** A session machine's limits unless configured (CATTY_DOCKER_*): Docker and Swarm alike. */
export const DEFAULT_LIMITS: ContainerLimits = {
  memoryBytes: 2 * 1024 ** 3,
  nanoCpus: 2e9,
  pidsLimit: 512,
  tmpBytes: 1024 ** 3,
  homeBytes: 256 * 1024 ** 2,
};

export interface ContainerPlan {
  image: string;
  /** OCI runtime, e.g. `runsc` (gVisor); undefined = the engine's default (runc). */
  runtime: string | undefined;
  limits: ContainerLimits;
  /** Extra variables for the runtime itself (e.g. CATTY_SNAPSHOT_INTERVAL_MS); the fixed names
   * below always win over them. */
  runtimeEnv: Record<string, string>;
  /** The machine's run directory on the host (bound at MACHINE_RUN_DIR). */
  runDir: string;
  /** The id of the control plane starting it (Label.controlPlane). */
  controlPlane: string;
}

// Session ids become container and volume names, which Docker restricts to this alphabet.
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$/;

export function containerName(sessionId: string): string {
  if (!SAFE_ID.test(sessionId)) throw new Error(`session id ${JSON.stringify(sessionId)} cannot name a container`);
  return `catty-session-${sessionId}`;
}

export function volumeName(sessionId: string): string {
  if (!SAFE_ID.test(sessionId)) throw new Error(`session id ${JSON.stringify(sessionId)} cannot name a volume`);
  return `catty-ws-${sessionId}`;
}

/** Labels of a session's container and volume; `controlPlane`: whose they are. */
export function sessionLabels(spec: MachineSpec, controlPlane: string): Record<string, string> {
  return {
    [Label.managed]: 'true',
    [Label.controlPlane]: controlPlane,
    [Label.sessionId]: spec.sessionId,
    [Label.owner]: spec.ownerId,
    [Label.label]: spec.label,
  };
}

/** The runtime's environment (DESIGN.md "Fixed names"), as the local provisioner gives it
 * (machine-env.ts). Secrets travel only inside CATTY_AGENT_ENV, which the runtime hands to the
 * agent and to nothing else. */
export function runtimeEnvList(spec: MachineSpec, plan: ContainerPlan): string[] {
  const env: Record<string, string> = {
    ...plan.runtimeEnv,
    ...machineEnv(spec, { workspace: WORKSPACE_DIR, agentHome: AGENT_HOME_DIR, listenSocket: MACHINE_RUNTIME_SOCKET, callbackSocket: MACHINE_CALLBACK_SOCKET }),
    ...sessionEnv(spec, spec.egressDir ? MACHINE_EGRESS_SOCKET : null),
  };
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}

export function containerOptions(spec: MachineSpec, plan: ContainerPlan): Docker.ContainerCreateOptions {
  const labels = {
    ...sessionLabels(spec, plan.controlPlane),
    [Label.runDir]: plan.runDir,
    [Label.apiUrl]: spec.apiUrl,
  };
  const { limits } = plan;
  return {
    name: containerName(spec.sessionId),
    Image: plan.image,
    User: AGENT_USER,
    WorkingDir: WORKSPACE_DIR,
    Env: runtimeEnvList(spec, plan),
    Labels: labels,
    // No health check, whatever the image says: the engine would run it inside the container with
    // this environment (the session's tokens), readable by the agent. The API checks the runtime
    // itself, through its socket.
    Healthcheck: { Test: ['NONE'] },
    HostConfig: {
      // A loopback of its own and nothing else: the host is reached only through the run directory.
      NetworkMode: 'none',
      ...(plan.runtime ? { Runtime: plan.runtime } : {}),
      // No docker-init: it would hold the runtime's environment (tokens) in a process the agent
      // can read. The runtime is pid 1, non-dumpable (infra/catty-session.sh), and handles
      // SIGTERM itself; the price is that orphans the agent leaves behind are not reaped until
      // the container ends (PidsLimit bounds them).
      Init: false,
      Memory: limits.memoryBytes,
      // Same as Memory: no swap on top of the limit.
      MemorySwap: limits.memoryBytes,
      NanoCpus: limits.nanoCpus,
      PidsLimit: limits.pidsLimit,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: {
        '/tmp': `rw,nosuid,nodev,size=${limits.tmpBytes}`,
        // The runtime pre-seeds Claude Code's configuration here at start.
        [AGENT_HOME_DIR]: `rw,nosuid,nodev,size=${limits.homeBytes},uid=1000,gid=1000,mode=0700`,
      },
      Mounts: [
        { Type: 'volume', Source: volumeName(spec.sessionId), Target: WORKSPACE_DIR, ReadOnly: false },
        { Type: 'bind', Source: plan.runDir, Target: MACHINE_RUN_DIR, ReadOnly: false },
        // The directory, not the socket: a catty-node started again listens in it, and is seen.
        ...(spec.egressDir ? [{ Type: 'bind' as const, Source: spec.egressDir, Target: MACHINE_EGRESS_DIR, ReadOnly: true }] : []),
      ],
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
    },
  };
}

/** A runtime as the engine describes it (`docker info` → Runtimes). */
export interface EngineRuntime {
  path?: string;
  runtimeArgs?: string[];
}

/**
 * Why a gVisor runtime cannot run sessions, or null (runc, or runsc registered as needed): with
 * `--network none` Docker gives runsc no network namespace of its own, so runsc must bring its
 * own loopback (`--network=none`), and Debian's runsc (2022) needs `--host-uds=all` for the
 * run directory's sockets — `create` to make the runtime's, `open` to reach the host's.
 */
export function gvisorProblem(name: string, runtime: EngineRuntime | undefined): string | null {
  if (!runtime) return `the engine has no OCI runtime named ${name} (register it in /etc/docker/daemon.json, see infra/README.md)`;
  if (!/runsc/.test(runtime.path ?? '')) return null;
  const args = (runtime.runtimeArgs ?? []).join(' ').replace(/(^|\s)-(?=\w)/g, '$1--');
  const missing = [
    /(^|\s)--network[= ]none(\s|$)/.test(args) ? null : '--network=none',
    /(^|\s)--host-uds[= ]all(\s|$)/.test(args) ? null : '--host-uds=all',
  ].filter((arg) => arg !== null);
  if (missing.length === 0) return null;
  return (
    `the gVisor runtime ${name} needs ${missing.join(' and ')} in its runtimeArgs: session containers have no network ` +
    `and reach the host through sockets in their run directory. In /etc/docker/daemon.json: ` +
    `"runtimes": {"${name}": {"path": "${runtime.path ?? '/usr/bin/runsc'}", "runtimeArgs": ["--network=none", "--host-uds=all"]}}, then reload dockerd (SIGHUP)`
  );
}
