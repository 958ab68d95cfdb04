/**
 * The Docker provisioner: one hardened container per session from the image Dockerfile.session
 * builds (non-root, all capabilities dropped, no-new-privileges, read-only root, tmpfs /tmp and
 * agent home, a named volume per session at /workspace, memory/CPU/pids limits, optionally the
 * gVisor runtime). With host networking (the default here: dockerd runs without a bridge) each
 * runtime listens on its own free loopback port; with any other network mode it listens on
 * :8080 in its own namespace and the API reaches it at the container's address on that network.
 *
 * Containers and volumes carry `catty.*` labels so `list()` finds them again after an API restart
 * — this control plane's only (docker-control-plane.ts): the engine may be shared. The machine id is the container name (`catty-session-<sessionId>`), so `stop` stays idempotent
 * even when the container is already gone and only the volume is left.
 */
import Docker from 'dockerode';
import { dockerOptionsFromEnv, type DockerProvisionerOptions } from './docker-config.js';
import { controlPlaneIdIn, newControlPlaneId } from './docker-control-plane.js';
import {
  CONTAINER_PORT,
  Label,
  containerName,
  containerOptions,
  sessionLabels,
  volumeName,
  type ContainerLimits,
} from './docker-spec.js';
import { demuxLogs, freeLoopbackPort, isConflict, isNotFound, isNotModified, pollUntil } from './docker-util.js';
import type { Machine, MachineInfo, MachineSpec, Provisioner } from './types.js';

export const DEFAULT_LIMITS: ContainerLimits = {
  memoryBytes: 2 * 1024 ** 3,
  nanoCpus: 2e9,
  pidsLimit: 512,
  tmpBytes: 1024 ** 3,
  homeBytes: 256 * 1024 ** 2,
};

const REMOVE_RETRY_MS = 200;
const REMOVE_ATTEMPTS = 25;

export function createDockerProvisioner(explicit: DockerProvisionerOptions = {}): Provisioner {
  const fromEnv = dockerOptionsFromEnv(explicit.env ?? process.env);
  const options: DockerProvisionerOptions = { ...fromEnv, ...explicit, limits: { ...fromEnv.limits, ...explicit.limits } };
  const docker = options.docker ?? new Docker(options.socketPath ? { socketPath: options.socketPath } : undefined);
  const image = options.image ?? 'catty-session:dev';
  const networkMode = options.networkMode ?? 'host';
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  // The engine may serve other control planes too: only what this one started is its business.
  const dataDir = options.config?.dataDir;
  const controlPlane = options.controlPlane ?? (dataDir ? controlPlaneIdIn(dataDir) : newControlPlaneId());
  // Ports handed out recently, so two starts racing each other never get the same one.
  const recentPorts = new Set<number>();
  let closed = false;
  options.logger?.info({ image, networkMode, runtime: options.runtime ?? 'default', limits, controlPlane }, 'docker provisioner ready');

  async function pickPort(): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await freeLoopbackPort();
      if (!recentPorts.has(port)) {
        recentPorts.add(port);
        if (recentPorts.size > 1024) recentPorts.delete(recentPorts.values().next().value!);
        return port;
      }
    }
    throw new Error('could not find a free loopback port');
  }

  async function ensureImage(): Promise<void> {
    try {
      await docker.getImage(image).inspect();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      throw new Error(`session image ${image} not found: build it with infra/build-session-image.sh (or set CATTY_DOCKER_IMAGE)`);
    }
  }

  function runtimeUrlOf(info: Docker.ContainerInspectInfo | Docker.ContainerInfo): string {
    const labels = 'Config' in info ? info.Config.Labels : info.Labels;
    const fixed = labels[Label.runtimeUrl];
    if (fixed) return fixed;
    const ip = info.NetworkSettings.Networks[networkMode]?.IPAddress;
    return ip ? `http://${ip}:${CONTAINER_PORT}` : '';
  }

  async function removeAll(name: string, volume: string | undefined): Promise<void> {
    await docker.getContainer(name).remove({ force: true, v: true }).catch((error: unknown) => {
      // 409: another stop is removing it already; the volume loop below waits for that.
      if (!isNotFound(error) && !isConflict(error)) throw error;
    });
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

  return {
    kind: 'docker',

    async start(spec: MachineSpec, signal?: AbortSignal): Promise<Machine> {
      if (closed) throw new Error('docker provisioner is closed');
      await ensureImage();
      const name = containerName(spec.sessionId);
      const volume = volumeName(spec.sessionId);
      const listen = networkMode === 'host' ? `127.0.0.1:${await pickPort()}` : `0.0.0.0:${CONTAINER_PORT}`;
      const create = containerOptions(spec, {
        image,
        networkMode,
        runtime: options.runtime,
        limits,
        runtimeEnv: options.runtimeEnv ?? {},
        listen,
        controlPlane,
      });
      try {
        signal?.throwIfAborted();
        await docker.createVolume({ Name: volume, Labels: sessionLabels(spec, controlPlane) });
        const container = await docker.createContainer(create);
        await container.start();
        const info = await pollUntil(
          async () => {
            const state = await container.inspect();
            if (state.State.Running) return state;
            if (state.State.Status === 'exited' || state.State.Status === 'dead') {
              const logs = await tailLogs(name);
              throw new Error(`session container exited at once (code ${state.State.ExitCode})${logs ? `:\n${logs}` : ''}`);
            }
            return undefined;
          },
          { timeoutMs: startTimeoutMs, intervalMs: 100, what: `container ${name} to run`, ...(signal ? { signal } : {}) },
        );
        options.logger?.info({ sessionId: spec.sessionId, machineId: name, listen }, 'session container running');
        return { machineId: name, runtimeUrl: runtimeUrlOf(info) };
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
      return containers
        .filter((c) => c.Labels[Label.sessionId])
        .map((c) => ({
          machineId: (c.Names[0] ?? c.Id).replace(/^\//, ''),
          runtimeUrl: runtimeUrlOf(c),
          sessionId: c.Labels[Label.sessionId]!,
          alive: c.State === 'running',
        }));
    },

    async close(): Promise<void> {
      // The client keeps no open connection; machines outlive the API by design.
      closed = true;
    },
  };
}
