/**
 * The pure half of the Docker provisioner: names, labels, the runtime's environment and the
 * hardened container definition for one session. Kept free of I/O so a unit test can check the
 * hardening without a Docker engine.
 */
import type Docker from 'dockerode';
import type { MachineSpec } from './types.js';
import { RUNTIME_NODE_OPTIONS, RuntimeEnv } from '../../session-runtime/wire/runtime-env.js';

/** Labels every catty container and volume carries; `list()` and reconciliation filter on them. */
export const Label = {
  managed: 'catty.managed',
  sessionId: 'catty.session-id',
  owner: 'catty.owner',
  label: 'catty.label',
  /** Where the API reaches the runtime (host networking: a loopback port fixed at creation). */
  runtimeUrl: 'catty.runtime-url',
  /** The control plane that made it (docker-control-plane.ts): an engine may serve several. */
  controlPlane: 'catty.control-plane',
} as const;

/** Port the runtime listens on inside its own network namespace (non-host network modes). */
export const CONTAINER_PORT = 8080;
export const WORKSPACE_DIR = '/workspace';
export const AGENT_HOME_DIR = '/home/agent';
/** uid:gid of `agent` in Dockerfile.session. */
export const AGENT_USER = '1000:1000';

export interface ContainerLimits {
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  tmpBytes: number;
  homeBytes: number;
}

export interface ContainerPlan {
  image: string;
  networkMode: string;
  /** OCI runtime, e.g. `runsc` (gVisor); undefined = the engine's default (runc). */
  runtime: string | undefined;
  limits: ContainerLimits;
  /** Extra variables for the runtime itself (e.g. CATTY_SNAPSHOT_INTERVAL_MS); the fixed names
   * below always win over them. */
  runtimeEnv: Record<string, string>;
  /** host:port the runtime listens on: 127.0.0.1:<free port> with host networking. */
  listen: string;
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

/** The runtime's environment (DESIGN.md "Fixed names"). Secrets travel only inside
 * CATTY_AGENT_ENV, which the runtime hands to the agent and to nothing else. */
export function runtimeEnvList(spec: MachineSpec, plan: ContainerPlan): string[] {
  const env: Record<string, string> = {
    ...plan.runtimeEnv,
    ...spec.runtimeEnv,
    CATTY_CONNECT_TOKEN: spec.connectToken,
    CATTY_MACHINE_TOKEN: spec.machineToken,
    CATTY_API_URL: spec.apiUrl,
    CATTY_AGENT_CMD: JSON.stringify(spec.agentCmd),
    CATTY_AGENT_ENV: JSON.stringify(spec.agentEnv),
    CATTY_LISTEN: plan.listen,
    CATTY_WORKSPACE: WORKSPACE_DIR,
    CATTY_AGENT_HOME: AGENT_HOME_DIR,
    // The runtime's memory budget, as the local provisioner sets it.
    NODE_OPTIONS: RUNTIME_NODE_OPTIONS,
  };
  if (!spec.upload) env[RuntimeEnv.noUpload] = '1';
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}

export function containerOptions(spec: MachineSpec, plan: ContainerPlan): Docker.ContainerCreateOptions {
  const labels = sessionLabels(spec, plan.controlPlane);
  if (plan.networkMode === 'host') labels[Label.runtimeUrl] = `http://${plan.listen}`;
  const { limits } = plan;
  return {
    name: containerName(spec.sessionId),
    Image: plan.image,
    User: AGENT_USER,
    WorkingDir: WORKSPACE_DIR,
    Env: runtimeEnvList(spec, plan),
    Labels: labels,
    ...(plan.networkMode === 'host' ? {} : { ExposedPorts: { [`${CONTAINER_PORT}/tcp`]: {} } }),
    HostConfig: {
      NetworkMode: plan.networkMode,
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
      Mounts: [{ Type: 'volume', Source: volumeName(spec.sessionId), Target: WORKSPACE_DIR, ReadOnly: false }],
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
    },
  };
}
