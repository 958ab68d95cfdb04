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
 */
import { EgressRefusal, NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import * as z from '../../session-runtime/wire/zod.js';
import type { SessionCredentials } from '../egress/credentials.js';

/** Raised when a route or a body changes incompatibly: an API finding another version asks it to go. */
export const NODE_PROTOCOL = 1;

/** The largest request body the node reads (credentials with many --inject rules fit easily). */
export const MAX_BODY_BYTES = 256 * 1024;

/** A session id as it names a directory: no dots, no slashes (the API's are 24 hex characters). */
export const SessionIdSchema = z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/));

const secret = z.string().check(z.minLength(1), z.maxLength(16 * 1024));
const ModelCredentialsSchema = z.strictObject({
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
} as const;
export type NodeRoutes = typeof nodeRoutes;

export const WATCH_PATH = '/v1/watch';

/** `catty-node` prints this line to stdout once its control socket listens. */
export const NODE_READY_PREFIX = 'catty-node listening on unix:';

export type RequestOf<R extends NodeRoute> = R['request'] extends z.ZodMiniType ? z.input<R['request']> : never;
export type ResponseOf<R extends NodeRoute> = z.output<R['response']>;

export function fillId(path: string, id?: string): string {
  if (!path.includes(':id')) return path;
  if (id === undefined) throw new Error(`no session id for ${path}`);
  return path.replace(':id', encodeURIComponent(id));
}
