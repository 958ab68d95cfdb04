/**
 * The Swarm provisioner (CATTY_PROVISIONER=swarm, issue 22): each session is a service
 * `catty-session-<id>` of one task that Swarm places on a node labelled `catty.node=true`
 * (swarm-spec.ts: the hardening, and what Swarm cannot express). The API talks to the manager's
 * engine, never to a node's: the node that runs a session is reached through its catty-node over
 * mutual TLS (api/node/remote.ts), which takes the machine's volumes there — its callback gateway
 * in `catty-run-<id>`, the session's egress proxy (policy and credentials, sent here) in
 * `catty-egress-<id>` — forwards the API's requests to the runtime's socket, and removes the
 * volumes when the session ends.
 *
 * start: create the service, wait for its task to run on a node, attach it on that node's
 * catty-node (which waits for the runtime's socket); any failure removes the service and what
 * the node holds, so nothing half-made is left. stop: remove the service (SIGTERM, the grace
 * period the service was made with, then SIGKILL: the runtime takes its final snapshot), wait
 * until its task is gone (its container removed), then close it on the node that ran it.
 * isAlive/list ask the manager, about this control plane's services only.
 */
import Docker from 'dockerode';
import { silentLogger, type Logger } from '../logger.js';
import { loadApiTls, remoteNode, type RemoteNode } from '../node/remote.js';
import type { EndpointTls } from '../../session-runtime/wire/runtime-address.js';
import { controlPlaneIdIn, newControlPlaneId } from './docker-control-plane.js';
import { AGENT_UID, DEFAULT_LIMITS, Label, type ContainerLimits } from './docker-spec.js';
import { isNotFound, pollUntil } from './docker-util.js';
import { swarmOptionsFromEnv, type ManagerAddress } from './swarm-config.js';
import { NODE_LABEL, serviceName, serviceSpec, sessionVolumes } from './swarm-spec.js';
import { cattyNodeIds, nodeUrlOf, pendingReason, runningTask, taskFailure, tasksOf } from './swarm-tasks.js';
import type { Machine, MachineInfo, MachineSpec, Provisioner } from './types.js';

export interface SwarmProvisionerOptions {
  image?: string;
  /** Sessions only on nodes labelled catty.runtime=<this> (their engine's default runtime). */
  runtime?: string;
  limits?: Partial<ContainerLimits>;
  /** The manager's engine (default: CATTY_SWARM_MANAGER, else the local socket). */
  manager?: ManagerAddress;
  /** The API's certificate for the nodes (default: read from CATTY_NODE_TLS_DIR). */
  tls?: EndpointTls;
  nodePort?: number;
  /** How long a task may take to be placed and run, and the node to attach it. */
  startTimeoutMs?: number;
  /** The services' stop grace (the runtime's final snapshot); default config.stopGraceMs. */
  stopGraceMs?: number;
  controlPlane?: string;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** The API's config, as api/server.ts passes it: its data directory keeps the control plane
   * id; CATTY_NODE_TLS_DIR and CATTY_NODE_PORT are read there. */
  config?: { dataDir?: string; stopGraceMs?: number; nodeTlsDir?: string | null; nodePort?: number };
}

/** The manager did not answer: said with what to check, not as a socket error. */
function managerError(error: unknown, managerText: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code && /^(ENOENT|ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EACCES|ENETUNREACH)$/.test(code)) {
    return new Error(`the swarm manager at ${managerText} did not answer (${code}): start it, or set CATTY_SWARM_MANAGER to its engine's address`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

export function createSwarmProvisioner(explicit: SwarmProvisionerOptions = {}): Provisioner {
  const fromEnv = swarmOptionsFromEnv(explicit.env ?? process.env);
  const manager = explicit.manager ?? fromEnv.manager;
  const managerText = explicit.manager ? JSON.stringify(explicit.manager) : fromEnv.managerText;
  const tlsDir = explicit.config?.nodeTlsDir ?? fromEnv.tlsDir;
  if (!explicit.tls && !tlsDir) throw new Error('the Swarm provisioner reaches each node’s catty-node over mutual TLS: set CATTY_NODE_TLS_DIR to the directory `catty-node certs --api --out DIR` made');
  const tls = explicit.tls ?? loadApiTls(tlsDir!);
  const docker = new Docker({ ...manager, timeout: 30_000 });
  const image = explicit.image ?? fromEnv.image ?? 'catty-session:dev';
  const runtime = explicit.runtime ?? fromEnv.runtime;
  const limits = { ...DEFAULT_LIMITS, ...fromEnv.limits, ...explicit.limits };
  const nodePort = explicit.nodePort ?? explicit.config?.nodePort ?? fromEnv.nodePort;
  const startTimeoutMs = explicit.startTimeoutMs ?? 60_000;
  const stopGraceMs = explicit.stopGraceMs ?? explicit.config?.stopGraceMs ?? 20_000;
  const logger = explicit.logger ?? silentLogger();
  const dataDir = explicit.config?.dataDir;
  const controlPlane = explicit.controlPlane ?? (dataDir ? controlPlaneIdIn(dataDir) : newControlPlaneId());
  const nodes = new Map<string, RemoteNode>();
  let closed = false;
  logger.info({ image, runtime: runtime ?? 'the nodes’ default', manager: managerText, controlPlane }, 'swarm provisioner ready');

  const nodeAt = (url: string): RemoteNode => {
    let node = nodes.get(url);
    if (!node) nodes.set(url, (node = remoteNode(url, tls)));
    return node;
  };
  const onManager = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      throw managerError(error, managerText);
    }
  };
  const volumesOf = (sessionId: string): string[] => Object.values(sessionVolumes(sessionId));
  const sessionIdOf = (machineId: string): string => machineId.slice('catty-session-'.length);

  /** Removes the service, and once its task is gone, what the nodes hold for it. */
  async function removeAll(machineId: string, nodeIds: string[], timeoutMs: number): Promise<void> {
    const before = await onManager(() => tasksOf(docker, machineId)).catch((error: unknown) => {
      if (isNotFound(error)) return []; // the service is gone already
      throw error;
    });
    await onManager(() => docker.getService(machineId).remove()).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
    const placed = [...new Set([...nodeIds, ...before.map((t) => t.NodeID).filter((id): id is string => !!id)])];
    // A task is deleted once its container is removed: then the node's engine lets go of the volumes.
    await pollUntil(
      async () => {
        for (const task of before) {
          const gone = await docker.getTask(task.ID).inspect().then(() => false, (error: unknown) => isNotFound(error));
          if (!gone) return undefined;
        }
        return true;
      },
      { timeoutMs, intervalMs: 100, what: `the task of ${machineId} to end` },
    );
    // The service already gone (an earlier stop, an API restart): any node may hold its volumes.
    const targets = placed.length > 0 ? placed : await onManager(() => cattyNodeIds(docker, NODE_LABEL));
    const sessionId = sessionIdOf(machineId);
    for (const nodeId of targets) {
      const url = await nodeUrlOf(docker, nodeId, nodePort).catch(() => null);
      if (!url) continue; // a node the swarm no longer knows: its volumes went with it
      await nodeAt(url).closeMachine(sessionId, volumesOf(sessionId));
    }
  }

  return {
    kind: 'swarm',
    machineUid: AGENT_UID,
    egressAtNode: true,
    runtimeTls: tls,

    async start(spec: MachineSpec, signal?: AbortSignal): Promise<Machine> {
      if (closed) throw new Error('swarm provisioner is closed');
      if (!spec.network) throw new Error('the Swarm provisioner needs the session’s network policy (MachineSpec.network): its node holds the egress proxy');
      const name = serviceName(spec.sessionId);
      const started = Date.now();
      await onManager(() => docker.createService(serviceSpec(spec, { image, runtime, limits, runtimeEnv: spec.runtimeEnv ?? {}, controlPlane, stopGraceMs })));
      let nodeId: string | undefined;
      try {
        const task = await pollUntil(
          async () => {
            const tasks = await onManager(() => tasksOf(docker, name));
            const failure = taskFailure(tasks);
            if (failure) throw new Error(`the session's service ${name} did not start: ${failure}`);
            return runningTask(tasks);
          },
          {
            timeoutMs: startTimeoutMs,
            intervalMs: 50,
            what: `${name} to run on a node labelled ${NODE_LABEL}=true${runtime ? ` and catty.runtime=${runtime}` : ''}`,
            ...(signal ? { signal } : {}),
          },
        ).catch(async (error: unknown) => {
          const pending = pendingReason(await tasksOf(docker, name).catch(() => []));
          throw pending ? new Error(`${(error as Error).message} (the swarm: ${pending})`) : error;
        });
        nodeId = task.NodeID!;
        const node = nodeAt(await onManager(() => nodeUrlOf(docker, nodeId!, nodePort)));
        const volumes = sessionVolumes(spec.sessionId);
        await node.attachMachine(spec.sessionId, {
          runVolume: volumes.run,
          egressVolume: volumes.egress,
          apiUrl: spec.apiUrl,
          machineUid: AGENT_UID,
          policy: spec.network,
          credentials: spec.credentials ?? { inject: [] },
          timeoutMs: Math.max(1000, Math.min(startTimeoutMs - (Date.now() - started), 120_000)),
        });
        const endpoint = node.runtimeEndpoint(spec.sessionId);
        logger.info({ sessionId: spec.sessionId, machineId: name, node: node.url, ms: Date.now() - started }, 'session service running');
        return { machineId: name, runtimeUrl: endpoint.url };
      } catch (error) {
        await removeAll(name, nodeId ? [nodeId] : [], 30_000).catch((err: unknown) => logger.warn({ err, machineId: name }, 'could not remove a session service that failed to start'));
        throw error;
      }
    },

    async stop(machineId: string, { graceMs }: { graceMs: number }): Promise<void> {
      // The task was made with the service's grace; removing waits for it, plus the engine's work.
      await removeAll(machineId, [], Math.max(graceMs, stopGraceMs) + 30_000);
    },

    async isAlive(machineId: string): Promise<boolean> {
      try {
        return runningTask(await onManager(() => tasksOf(docker, machineId))) !== undefined;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    },

    async clusterNodes(): Promise<RemoteNode[]> {
      const ids = await onManager(() => cattyNodeIds(docker, NODE_LABEL));
      const urls = await Promise.all(ids.map((id) => nodeUrlOf(docker, id, nodePort).catch(() => null)));
      return urls.filter((url): url is string => url !== null).map(nodeAt);
    },

    async list(): Promise<MachineInfo[]> {
      const services = (await onManager(() => docker.listServices({ filters: { label: [`${Label.managed}=true`, `${Label.controlPlane}=${controlPlane}`] } }))) as Array<{ Spec?: { Name?: string; Labels?: Record<string, string> } }>;
      const out: MachineInfo[] = [];
      for (const service of services) {
        const machineId = service.Spec?.Name;
        const sessionId = service.Spec?.Labels?.[Label.sessionId];
        if (!machineId || !sessionId) continue;
        const task = runningTask(await onManager(() => tasksOf(docker, machineId)));
        const url = task?.NodeID ? await nodeUrlOf(docker, task.NodeID, nodePort).catch(() => null) : null;
        out.push({ machineId, sessionId, alive: task !== undefined, runtimeUrl: url ? nodeAt(url).runtimeEndpoint(sessionId).url : '' });
      }
      return out;
    },

    close(): Promise<void> {
      // The services outlive the API by design.
      closed = true;
      return Promise.resolve();
    },
  };
}
