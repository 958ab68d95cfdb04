/**
 * The one wire contract of catty-node's control API (HTTP + JSON on `<nodeDir>/control.sock`,
 * 0600 in a 0700 directory: only the API's uid reaches it). The node's server dispatches from
 * this route table and the API's client (./client.ts) sends through it, so both sides parse
 * the same schemas. Everything the node receives is checked here: it holds credentials, and a
 * bad body is a 400, never a crash.
 *
 * Besides the JSON routes, `GET /v1/watch` is a long-lived stream (one JSON object a line,
 * {@link WatchEvent}): the API holds it open, learns at once when the node is gone (the stream
 * ends) and when refusals wait to be fetched.
 *
 * In cluster mode (a node per Swarm host, reached by the API over mutual TLS: docs/cluster.md)
 * the same table is served over TLS, and the machine routes matter: the API attaches a session
 * machine the engine started from the volumes its service mounts (`catty-run-<id>`,
 * `catty-egress-<id>`), reaches its runtime through {@link machineRuntimePath}, and closes it,
 * removing those volumes through this host's engine.
 */
import { EgressRefusal, NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import * as z from '../../session-runtime/wire/zod.js';
import { AGENT_NAMES } from '../../session-runtime/wire/agents.js';
import type { SessionCredentials } from '../egress/credentials.js';

/**
 * Raised when a route or a body changes incompatibly. An API finding its host's node on another
 * version does not use it and does not start a second one: it stops, naming the node's pid to stop
 * (api/node/launch.ts probeNode), since stopping it takes every session's network down until the
 * API starts the new one. 2: the machine routes (cluster mode) and the model credentials' agent.
 */
export const NODE_PROTOCOL = 2;

/** The largest request body the node reads (credentials with many --inject rules fit easily). */
export const MAX_BODY_BYTES = 256 * 1024;

/** A session id as it names a directory: no dots, no slashes (the API's are 24 hex characters). */
export const SessionIdSchema = z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/));

const secret = z.string().check(z.minLength(1), z.maxLength(16 * 1024));
const ModelCredentialsSchema = z.strictObject({
  agent: z.optional(z.enum(AGENT_NAMES)),
  apiKey: z.optional(secret),
  oauthToken: z.optional(secret),
  authToken: z.optional(secret),
  baseUrl: z.optional(z.url().check(z.maxLength(2048))),
});
const InjectRuleSchema = z.strictObject({
  host: z.string().check(z.minLength(1), z.maxLength(255)),
  port: z.int().check(z.gte(1), z.lte(65535)),
  header: z.string().check(z.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/)),
  // A header value: no CR, LF or NUL (they would split the request).
  value: secret.check(z.regex(/^[^\r\n\0]*$/)),
});
export const SessionCredentialsSchema = z.strictObject({
  model: z.optional(ModelCredentialsSchema),
  inject: z.array(InjectRuleSchema).check(z.maxLength(64)),
});
// The schema and the proxy's type are one shape (a change on either side fails to compile).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<z.output<typeof SessionCredentialsSchema>, SessionCredentials> = true;
void sameShape;

/**
 * The named volumes a Swarm session's service mounts, one of each kind per session:
 * `catty-ws-<id>` (/workspace), `catty-run-<id>` (MACHINE_RUN_DIR: the runtime's socket, the
 * callback gateway's) and `catty-egress-<id>` (MACHINE_EGRESS_DIR, read-only inside: the egress
 * proxy's socket and CA). The node touches no other volume.
 */
export const VolumeKind = { workspace: 'ws', run: 'run', egress: 'egress' } as const;
export type VolumeKind = (typeof VolumeKind)[keyof typeof VolumeKind];
export const machineVolumeName = (kind: VolumeKind, sessionId: string): string => `catty-${kind}-${sessionId}`;
export const MachineVolumeSchema = z.string().check(z.regex(/^catty-(run|egress|ws)-[a-z0-9][a-z0-9_-]{0,63}$/));
/**
 * Labels a session volume must carry for the node to use or remove it (the Swarm provisioner
 * sets them in the service's mount spec: VolumeOptions.Labels). The same names as the Docker
 * provisioner's (api/provisioners/docker-spec.ts Label).
 */
export const VolumeLabel = { managed: 'catty.managed', sessionId: 'catty.session-id' } as const;

export const Ok = z.strictObject({ ok: z.literal(true) });

export const Health = z.strictObject({
  protocol: z.int(),
  pid: z.int(),
  /** New at each start of the node: an API that sees it change knows the node was replaced. */
  instance: z.string(),
  sessions: z.int(),
});
export type Health = z.infer<typeof Health>;

/** A uid a session's machine may run as on the host: not root, below the kernel's (uid_t)-1. */
export const MachineUidSchema = z.int().check(z.gte(1), z.lte(0x7fff_fffe));
export const OpenSession = z.strictObject({
  policy: NetworkPolicy,
  credentials: SessionCredentialsSchema,
  /**
   * The uid the session's machine runs as on the host, when it is not the node's (a Docker
   * container's user): the node gives it the proxy's socket and lets it through the session's
   * directory (0711; the CA certificate 0644), nothing more. Absent: the node's own uid (a
   * bubblewrap sandbox maps it).
   */
  machineUid: z.optional(MachineUidSchema),
});
export const Opened = z.strictObject({
  /** The directory holding the session's proxy.sock, to bind into its machine. */
  egressDir: z.string(),
});
export const SetPolicy = z.strictObject({ policy: NetworkPolicy });

/** The bounds of AttachMachine.timeoutMs: how long the node waits for the runtime's socket. */
export const ATTACH_TIMEOUT_MS = { default: 30_000, max: 120_000 } as const;
export const AttachMachine = z.strictObject({
  /** `catty-run-<id>`: where the runtime makes runtime.sock; the node opens callback.sock there. */
  runVolume: MachineVolumeSchema,
  /** `catty-egress-<id>`: where the node opens the session's proxy.sock and writes ca.pem. */
  egressVolume: MachineVolumeSchema,
  /** The API as the machine's callbacks reach it (through the gateway, from this host). */
  apiUrl: z.url().check(z.maxLength(2048)),
  /** The uid the machine runs as (the image's agent): it gets callback.sock and proxy.sock. */
  machineUid: MachineUidSchema,
  policy: NetworkPolicy,
  credentials: SessionCredentialsSchema,
  timeoutMs: z.optional(z.int().check(z.gte(1), z.lte(ATTACH_TIMEOUT_MS.max))),
});
export const CloseMachine = z.strictObject({
  /** Volumes to remove through this host's engine: only the session's own (`catty-*-<id>`). */
  volumes: z.array(MachineVolumeSchema).check(z.maxLength(3)),
});
export const AttachedMachines = z.strictObject({
  machines: z.array(z.strictObject({ id: SessionIdSchema })),
});
export type AttachedMachines = z.infer<typeof AttachedMachines>;

export const NodeSessions = z.strictObject({
  sessions: z.array(z.strictObject({ id: SessionIdSchema, policy: NetworkPolicy, credentials: z.boolean() })),
  /** Session directories with no listener (left by a node that died): the API removes those it does not need. */
  stale: z.array(SessionIdSchema),
});
export type NodeSessions = z.infer<typeof NodeSessions>;

export const QueuedRefusal = z.strictObject({ seq: z.int(), sessionId: SessionIdSchema, refusal: EgressRefusal });
export type QueuedRefusal = z.infer<typeof QueuedRefusal>;
export const Refusals = z.strictObject({
  /** Oldest first; at most MAX_REFUSALS_PER_FETCH. */
  refusals: z.array(QueuedRefusal),
  more: z.boolean(),
});
export const AckRefusals = z.strictObject({ upTo: z.int().check(z.gte(0)) });

export const WatchEvent = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('hello'), instance: z.string() }),
  z.strictObject({ type: z.literal('refusals') }),
  z.strictObject({ type: z.literal('ping') }),
]);
export type WatchEvent = z.infer<typeof WatchEvent>;

export interface NodeRoute<Req extends z.ZodMiniType | null = z.ZodMiniType | null, Res extends z.ZodMiniType = z.ZodMiniType> {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** `:id` is a session id (SessionIdSchema). */
  path: string;
  request: Req;
  response: Res;
}
const route = <Req extends z.ZodMiniType | null, Res extends z.ZodMiniType>(r: NodeRoute<Req, Res>) => r;

export const nodeRoutes = {
  health: route({ method: 'GET', path: '/healthz', request: null, response: Health }),
  /** Opens the session's listener (409 if it has one). */
  openSession: route({ method: 'PUT', path: '/v1/sessions/:id', request: OpenSession, response: Opened }),
  /** 404 when the session has no listener. */
  setPolicy: route({ method: 'PUT', path: '/v1/sessions/:id/policy', request: SetPolicy, response: Ok }),
  /** Closes the listener and removes the directory; idempotent. Its refusals stay queued. */
  closeSession: route({ method: 'DELETE', path: '/v1/sessions/:id', request: null, response: Ok }),
  listSessions: route({ method: 'GET', path: '/v1/sessions', request: null, response: NodeSessions }),
  /** Refusals not yet acknowledged, every session's, oldest first. */
  refusals: route({ method: 'GET', path: '/v1/refusals', request: null, response: Refusals }),
  /** The API wrote them: the node forgets every refusal up to this seq. */
  ackRefusals: route({ method: 'POST', path: '/v1/refusals/ack', request: AckRefusals, response: Ok }),
  /**
   * Cluster mode: takes a started machine's volumes on this host (waits, bounded, for its
   * runtime's socket), opens its callback gateway and its egress listener there. Idempotent for
   * the same id. 404 when a volume is not on this host's engine; 409 when it is not the
   * session's (labels); 504 when the runtime did not listen in time.
   */
  attachMachine: route({ method: 'PUT', path: '/v1/machines/:id', request: AttachMachine, response: Ok }),
  /** Closes the machine's gateway and listener and removes the named volumes; idempotent. */
  closeMachine: route({ method: 'DELETE', path: '/v1/machines/:id', request: CloseMachine, response: Ok }),
  machines: route({ method: 'GET', path: '/v1/machines', request: null, response: AttachedMachines }),
} as const;
export type NodeRoutes = typeof nodeRoutes;

export const WATCH_PATH = '/v1/watch';

/**
 * Any method (and the WebSocket upgrade) under this prefix reaches the attached machine's
 * runtime, the rest of the path forwarded: `<prefix>/healthz` is the runtime's `/healthz`.
 */
export const machineRuntimePath = (sessionId: string): string => `/v1/machines/${encodeURIComponent(sessionId)}/runtime`;
export const MACHINE_RUNTIME_PATH = /^\/v1\/machines\/([^/]+)\/runtime(\/.*)?$/;

/** catty-node's TLS port in cluster mode (CATTY_NODE_PORT on the API). */
export const DEFAULT_NODE_PORT = 7443;
/** The subject CN of the API's client certificate: the only client a cluster node serves. */
export const API_CLIENT_CN = 'catty-api';

/** `catty-node` prints this line to stdout once its control socket listens. */
export const NODE_READY_PREFIX = 'catty-node listening on unix:';
/** In cluster mode, followed by `https://HOST:PORT` (the port it bound: 0 picks one). */
export const NODE_TLS_READY_PREFIX = 'catty-node listening on ';

export type RequestOf<R extends NodeRoute> = R['request'] extends z.ZodMiniType ? z.input<R['request']> : never;
export type ResponseOf<R extends NodeRoute> = z.output<R['response']>;

export function fillId(path: string, id?: string): string {
  if (!path.includes(':id')) return path;
  if (id === undefined) throw new Error(`no session id for ${path}`);
  return path.replace(':id', encodeURIComponent(id));
}
