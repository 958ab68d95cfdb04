/**
 * The pure half of the Swarm provisioner (swarm.ts): a session's service — one task, no restart,
 * placed on a node labelled `catty.node=true` — with the Docker provisioner's hardening
 * (docker-spec.ts) where Swarm can express it. Where it cannot (infra/README.md, "Swarm"):
 *
 * - no network: Swarm attaches no network to a service that names none, and a task with none
 *   runs in the engine's default network — on a node whose dockerd runs `--bridge=none`, a
 *   loopback and nothing else (the `none` network cannot be named in a service). The image's
 *   entrypoint refuses to start when it sees any other interface (CATTY_LOOPBACK_ONLY);
 * - no per-service OCI runtime: gVisor is a node's `default-runtime`, chosen by a node label
 *   (`catty.runtime=<name>`) and a placement constraint;
 * - no per-service no-new-privileges: the image holds no setuid/setgid file
 *   (Dockerfile.session), every capability is dropped, and the node's dockerd may set
 *   `"no-new-privileges": true` for all its containers;
 * - tmpfs mounts take a size only (the engine ignores a service's tmpfs mode and no owner can be
 *   given; each tmpfs gets the mode of the image's directory, and the engine mounts it noexec):
 *   `/tmp` is 1777 as in every image, and the agent's home is made by the runtime (0700, uid
 *   1000) on a tmpfs at /home, 1777 in the image (Dockerfile.session);
 * - memory swap is the engine's default (twice the limit where the host has swap);
 * - the sockets: the runtime's run directory and the egress directory are named volumes the
 *   node's engine creates at task start, filled from the image (/run/catty owned by uid 1000,
 *   /run/catty-egress by root), which the node's catty-node opens its sockets in.
 */
import type Docker from 'dockerode';
import { MACHINE_CALLBACK_SOCKET, MACHINE_EGRESS_DIR, MACHINE_RUN_DIR, MACHINE_RUNTIME_SOCKET } from '../../session-runtime/wire/runtime-env.js';
import { AGENT_HOME_DIR, AGENT_USER, Label, WORKSPACE_DIR, containerName, sessionLabels, type ContainerLimits } from './docker-spec.js';
import { MACHINE_EGRESS_SOCKET, machineEnv, sessionEnv } from './machine-env.js';
import type { MachineSpec } from './types.js';

/** The node label every node that may run sessions carries (`docker node update --label-add`). */
export const NODE_LABEL = 'catty.node';
/** A node whose engine runs sessions under this OCI runtime by default (gVisor: `catty-runsc`). */
export const RUNTIME_LABEL = 'catty.runtime';
/** Optional, on a node: its catty-node's URL, when it is not `https://<node address>:<port>`. */
export const NODE_URL_LABEL = 'catty.node.url';
/** The image's entrypoint refuses to start with any interface besides lo (infra/catty-session.sh). */
export const LOOPBACK_ONLY_ENV = 'CATTY_LOOPBACK_ONLY';

/** A session's three volumes, on the node that runs it (api/node/contract.ts machineVolumeName). */
export function sessionVolumes(sessionId: string): { workspace: string; run: string; egress: string } {
  const name = containerName(sessionId).slice('catty-session-'.length);
  return { workspace: `catty-ws-${name}`, run: `catty-run-${name}`, egress: `catty-egress-${name}` };
}

/** The service is named as the Docker provisioner names its container: the machine id. */
export const serviceName = containerName;

export interface ServicePlan {
  image: string;
  /** A node label constraint: sessions only on nodes whose default runtime is this (gVisor). */
  runtime: string | undefined;
  limits: ContainerLimits;
  runtimeEnv: Record<string, string>;
  controlPlane: string;
  /** SIGTERM, then SIGKILL after this long (the runtime's final snapshot). */
  stopGraceMs: number;
}

export function runtimeEnvList(spec: MachineSpec, plan: ServicePlan): string[] {
  const env: Record<string, string> = {
    ...plan.runtimeEnv,
    ...machineEnv(spec, { workspace: WORKSPACE_DIR, agentHome: AGENT_HOME_DIR, listenSocket: MACHINE_RUNTIME_SOCKET, callbackSocket: MACHINE_CALLBACK_SOCKET }),
    // The node opens the proxy's socket in the egress volume once the runtime listens.
    ...sessionEnv(spec, MACHINE_EGRESS_SOCKET),
    [LOOPBACK_ONLY_ENV]: '1',
  };
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}

export function serviceSpec(spec: MachineSpec, plan: ServicePlan): Docker.CreateServiceOptions {
  const labels = { ...sessionLabels(spec, plan.controlPlane), [Label.apiUrl]: spec.apiUrl };
  // The node uses or removes only volumes labelled as the session's (api/node/contract.ts VolumeLabel).
  const volumeLabels = { [Label.managed]: 'true', [Label.controlPlane]: plan.controlPlane, [Label.sessionId]: spec.sessionId };
  const volumes = sessionVolumes(spec.sessionId);
  const volume = (source: string, target: string, readOnly: boolean): Docker.MountSettings => ({
    Type: 'volume',
    Source: source,
    Target: target,
    ReadOnly: readOnly,
    VolumeOptions: { NoCopy: false, Labels: volumeLabels, DriverConfig: { Name: 'local', Options: {} } },
  });
  const { limits } = plan;
  return {
    Name: serviceName(spec.sessionId),
    Labels: labels,
    Mode: { Replicated: { Replicas: 1 } },
    TaskTemplate: {
      ContainerSpec: {
        Image: plan.image,
        Labels: labels,
        User: AGENT_USER,
        Dir: WORKSPACE_DIR,
        Env: runtimeEnvList(spec, plan),
        // No health check (the engine would run it with the session's tokens in its environment)
        // and no docker-init (it would hold them too): as docker-spec.ts.
        HealthCheck: { Test: ['NONE'] },
        Init: false,
        ReadOnly: true,
        CapabilityDrop: ['ALL'],
        StopSignal: 'SIGTERM',
        StopGracePeriod: plan.stopGraceMs * 1e6,
        Mounts: [
          volume(volumes.workspace, WORKSPACE_DIR, false),
          volume(volumes.run, MACHINE_RUN_DIR, false),
          volume(volumes.egress, MACHINE_EGRESS_DIR, true),
          // The mode given is not what the engine applies (it takes the image directory's): 1777 both.
          { Type: 'tmpfs', Source: '', Target: '/tmp', TmpfsOptions: { SizeBytes: limits.tmpBytes, Mode: 0o1777 } },
          // No owner for a tmpfs: the runtime makes the home (0700) inside it as the agent's user.
          { Type: 'tmpfs', Source: '', Target: '/home', TmpfsOptions: { SizeBytes: limits.homeBytes, Mode: 0o1777 } },
        ],
      },
      Resources: { Limits: { MemoryBytes: limits.memoryBytes, NanoCPUs: limits.nanoCpus, Pids: limits.pidsLimit } },
      // One task: an ended or lost machine is the session's end, never restarted elsewhere empty.
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Placement: { Constraints: [`node.labels.${NODE_LABEL}==true`, ...(plan.runtime ? [`node.labels.${RUNTIME_LABEL}==${plan.runtime}`] : [])] },
      LogDriver: { Name: 'json-file', Options: { 'max-size': '10m', 'max-file': '2' } },
    },
  };
}
