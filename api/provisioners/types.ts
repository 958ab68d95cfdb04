/**
 * The one small interface every provisioner implements (`local.ts`, `docker.ts`, later
 * Kubernetes). A provisioner starts a machine running `catty-session` configured by the
 * environment variables of DESIGN.md ("Fixed names"), tells where its runtime listens, stops it,
 * and lists the machines it still has so the API can reconcile after a restart.
 *
 * The API, not the provisioner, waits for `/healthz` and records state.
 */
import type { NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import type { SessionCredentials } from '../egress/credentials.js';
import type { EndpointTls } from '../../session-runtime/wire/runtime-address.js';
import type { RemoteNode } from '../node/remote.js';

export type ProvisionerKind = 'local' | 'docker' | 'swarm';

export interface MachineSpec {
  sessionId: string;
  ownerId: string;
  label: string;
  /** Bearer token clients present to the runtime (upload, connect, logs). */
  connectToken: string;
  /** Bearer token the runtime presents to the API's `/v1/runtime/...` callbacks. */
  machineToken: string;
  /** API base URL as reachable from inside the machine. */
  apiUrl: string;
  /** argv of the agent (CATTY_AGENT_CMD). */
  agentCmd: string[];
  /** Which agent (CATTY_AGENT): whose home the runtime seeds; absent: claude. */
  agent?: string;
  /** Secrets and settings for the agent only (CATTY_AGENT_ENV). */
  agentEnv: Record<string, string>;
  /** false: start the agent at once instead of waiting for an upload (`--no-upload`). */
  upload: boolean;
  /** Extra `CATTY_*` runtime settings from the API's configuration (e.g.
   * CATTY_SNAPSHOT_INTERVAL_MS, CATTY_MAX_UPLOAD_BYTES), passed to the runtime's environment
   * as they are. Optional; added by the API engineer. */
  runtimeEnv?: Record<string, string>;
  /** Host directory holding this session's egress proxy socket (EGRESS_SOCKET_NAME), bound at
   * MACHINE_EGRESS_DIR inside; absent: the machine gets no egress proxy. */
  egressDir?: string;
  /** With egressDir: the egress proxy holds the session's model credentials; these are the
   * variables (CATTY_MODEL_ROUTE) the agent gets placeholders for, its base URL (ANTHROPIC_BASE_URL,
   * …) being the runtime's bridge. Absent: no model route. */
  modelRoute?: string[];
  /** For a provisioner whose machines' egress is held by the node that runs them
   * (Provisioner.egressAtNode): the session's network policy and the credentials its proxy adds. */
  network?: NetworkPolicy;
  credentials?: SessionCredentials;
}

/** What every machine of one API shares: a spare started ahead must have been given the same. */
export type SharedMachineSettings = Pick<MachineSpec, 'apiUrl' | 'runtimeEnv'>;

export interface Machine {
  /** Provisioner-specific id (a pid, a container id). */
  machineId: string;
  /** Base URL of the runtime as reachable from the API host, e.g. http://127.0.0.1:43121
   * (SOCKET_BASE_URL when it is reached through `runtimeSocket`). */
  runtimeUrl: string;
  /** The runtime's Unix socket on the API host (local machines: in the machine's directory);
   * absent: TCP to runtimeUrl. */
  runtimeSocket?: string;
}

export interface MachineInfo extends Machine {
  sessionId: string;
  alive: boolean;
}

export interface Provisioner {
  readonly kind: ProvisionerKind;
  /** Starts a machine; resolves once its runtime's address is known (not necessarily healthy). */
  start(spec: MachineSpec, signal?: AbortSignal): Promise<Machine>;
  /** SIGTERM (the runtime takes its final snapshot), then kill after `graceMs`, then remove the
   * machine and its workspace. Idempotent. */
  stop(machineId: string, options: { graceMs: number }): Promise<void>;
  /** Whether the machine is still running. */
  isAlive(machineId: string): Promise<boolean>;
  /** Every machine this provisioner still knows of, for reconciliation on API start. */
  list(): Promise<MachineInfo[]>;
  /** Why this provisioner starts no session at all (local: no working sandbox, and no opt-out);
   * the API answers it before creating anything. Absent or null: it starts sessions. */
  readonly refusal?: string | null;
  /** The uid its machines run as on the host when it is not the API's (Docker: the image's
   * user), so that catty-node gives each session's egress socket to it. Absent: the API's own
   * (bubblewrap maps it to the sandbox's user). */
  readonly machineUid?: number;
  /** true: the node that runs a machine holds its egress proxy (Swarm: each host's catty-node,
   * given MachineSpec.network and credentials at start), so the API opens no egress directory
   * of its own for it. */
  readonly egressAtNode?: boolean;
  /** The API's certificate for the nodes its machines' runtimes are reached through (Swarm:
   * each node's catty-node, over mutual TLS: runtimeUrl is https there). */
  readonly runtimeTls?: EndpointTls;
  /** With egressAtNode: every node that may run its machines, each reached through its catty-node
   * (Swarm: the nodes labelled catty.node=true), whose refusals the API collects. */
  clusterNodes?(): Promise<RemoteNode[]>;
  /** Optional: work ahead of the next start() (the local provisioner starts a spare machine). */
  prepare?(shared: SharedMachineSettings): void;
  /** Releases provisioner resources (not the machines: they outlive an API restart). */
  close(): Promise<void>;
}
