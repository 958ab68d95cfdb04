/**
 * The control-plane API's wire contract: zod schemas and inferred types for every request and
 * response body, used by the API (to parse what arrives), the CLI (to parse what comes back)
 * and the session runtime (for its callbacks). It imports nothing of ours but the seam
 * (session-runtime/wire/).
 *
 * Which route takes and answers which of these is the route table, ./routes.ts. Error answers
 * are the seam's one ErrorBody (session-runtime/wire/errors.ts).
 */
import * as z from '../../session-runtime/wire/zod.js';
import { normaliseHost } from '../../session-runtime/wire/host-name.js';
import { AGENT_NAMES, DEFAULT_AGENT } from '../../session-runtime/wire/agents.js';
import { EgressRefusal, NetworkPolicy } from '../../session-runtime/wire/network-policy.js';

export const Ok = z.object({ ok: z.literal(true) });

// --- auth ------------------------------------------------------------------------------------

export const DeviceCodeResponse = z.object({
  device_code: z.string(),
  user_code: z.string(),
  verification_uri: z.string(),
  verification_uri_complete: z.string(),
  /** Seconds until both codes expire. */
  expires_in: z.int().check(z.positive()),
  /** Minimum seconds between polls of the token endpoint. */
  interval: z.int().check(z.positive()),
});
export type DeviceCodeResponse = z.infer<typeof DeviceCodeResponse>;

export const DeviceTokenRequest = z.strictObject({
  grant_type: z.literal('urn:ietf:params:oauth:grant-type:device_code'),
  device_code: z.string().check(z.minLength(1), z.maxLength(200)),
});
export type DeviceTokenRequest = z.infer<typeof DeviceTokenRequest>;

export const DeviceTokenError = z.object({
  error: z.enum(['authorization_pending', 'slow_down', 'access_denied', 'expired_token', 'invalid_grant']),
  error_description: z.optional(z.string()),
});
export type DeviceTokenError = z.infer<typeof DeviceTokenError>;

export const TokenResponse = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('Bearer'),
  /** Seconds until the access token expires. */
  expires_in: z.int().check(z.positive()),
});
export type TokenResponse = z.infer<typeof TokenResponse>;

export const RefreshRequest = z.strictObject({ refresh_token: z.string().check(z.minLength(1), z.maxLength(200)) });
export const LogoutRequest = z.strictObject({ refresh_token: z.optional(z.string().check(z.minLength(1), z.maxLength(200))) });

export const Me = z.object({ id: z.string(), email: z.string() });
export type Me = z.infer<typeof Me>;

// --- sessions --------------------------------------------------------------------------------

/** Secret names look like environment variables; these may never be set (SECURITY.md 33). */
export const SECRET_NAME_PATTERN = /^[A-Z_][A-Z0-9_]*$/;
export const RESERVED_SECRET_NAMES = ['PATH', 'HOME', 'USER', 'SHELL', 'TERM', 'LANG', 'PWD', 'LOGNAME', 'IS_SANDBOX'];
export function secretNameProblem(name: string): string | null {
  if (!SECRET_NAME_PATTERN.test(name)) return 'must look like an environment variable: A-Z, 0-9 and _, not starting with a digit';
  if (RESERVED_SECRET_NAMES.includes(name) || name.startsWith('CATTY_')) return 'is reserved';
  return null;
}
export const SecretName = z.string().check(z.maxLength(128), z.refine((n) => secretNameProblem(n) === null, 'invalid secret name'));

/** `catty secrets set NAME --inject HOST --header NAME`: a header name the proxy may set — an
 * HTTP token, and none the proxy owns (hop-by-hop, Host, framing). */
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADERS_NOT_INJECTED = ['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'content-length', 'content-type'];
export function injectHeaderProblem(name: string): string | null {
  if (name.length === 0 || name.length > 64 || !HEADER_TOKEN.test(name)) return 'is not an HTTP header name (letters, digits and - only, no spaces or line breaks)';
  if (HEADERS_NOT_INJECTED.includes(name.toLowerCase())) return 'is a header the proxy sets itself';
  return null;
}

/** The canonical spelling of an inject host (a name or an IP, as the seam normalises it), or why it is not one. */
export function injectHostProblem(host: string): string | null {
  const normalised = normaliseHost(host);
  if ('problem' in normalised) return `is not a host: ${normalised.problem}`;
  if (normalised.host !== host || normalised.shorthand) return 'is not in canonical form';
  return null;
}

/** One secret the egress proxy adds as a header on requests to host:port (never in the machine). */
export const InjectRequest = z.strictObject({
  secret: SecretName,
  host: z.string().check(z.maxLength(253), z.refine((h) => injectHostProblem(h) === null, 'not a canonical host name or IP')),
  port: z.int().check(z.gte(1), z.lte(65535)),
  header: z.string().check(z.refine((h) => injectHeaderProblem(h) === null, 'not a header the proxy may set')),
  /** true: the header's value is `Bearer <secret>` (the default, Authorization); false: the secret as it is. */
  bearer: z.boolean(),
});
export type InjectRequest = z.infer<typeof InjectRequest>;
export const MAX_INJECT_RULES = 32;

export const SessionStatus = z.enum(['provisioning', 'running', 'stopped', 'timed_out', 'failed']);
export type SessionStatus = z.infer<typeof SessionStatus>;

/** An agent's name; an unknown one is refused naming them all. */
export const AgentNameSchema = z.enum(AGENT_NAMES, { error: () => `the agent must be one of ${AGENT_NAMES.join(', ')}` });

export const CreateSessionRequest = z.strictObject({
  /** Which agent runs (session-runtime/wire/agents.ts): Claude Code, Codex, Gemini CLI or a login shell. */
  agent: z._default(AgentNameSchema, DEFAULT_AGENT),
  /** A shell command line run by `sh -c` instead of the agent. */
  cmd: z.optional(z.string().check(z.minLength(1), z.maxLength(8192))),
  /** Inactivity timeout in seconds. */
  ttlSec: z.optional(z.int().check(z.gte(10), z.lte(30 * 24 * 3600))),
  /** Environment for the agent only. */
  secrets: z.optional(z.record(SecretName, z.string().check(z.maxLength(64 * 1024)))),
  /** Whether the session waits for an upload before starting the agent. */
  upload: z._default(z.boolean(), true),
  /** Where the session may connect (`catty new --net/--allow`); absent: the `trusted` preset. */
  network: z.optional(NetworkPolicy),
  /** Secrets (each also in `secrets`) the egress proxy adds as headers instead of the agent's
   * environment holding them; each host:port must be one the network policy allows. */
  inject: z.optional(z.array(InjectRequest).check(z.maxLength(MAX_INJECT_RULES))),
});
export type CreateSessionRequest = z.input<typeof CreateSessionRequest>;

export const Session = z.object({
  id: z.string(),
  label: z.string(),
  status: SessionStatus,
  agent: AgentNameSchema,
  provisioner: z.string(),
  createdAt: z.string(),
  /** Last activity (attached client or agent output), ISO time. */
  lastActivityAt: z.string(),
  endedAt: z.nullable(z.string()),
  /** The agent's exit code once it has exited on its own. */
  exitCode: z.nullable(z.int()),
  ttlSec: z.int(),
  /** Why it failed or ended, for people. */
  detail: z.nullable(z.string()),
  /** Its network policy; absent for a session created before policies existed. */
  network: z.optional(NetworkPolicy),
  /** `catty new --cmd`'s command line, run instead of the agent; absent: the agent itself. */
  cmd: z.optional(z.string()),
  /** Ended, with a snapshot to start again from (`catty resume`); absent from older APIs. */
  resumable: z.optional(z.boolean()),
  /** When its latest snapshot was recorded; null: none yet; absent from older APIs. */
  lastSnapshotAt: z.optional(z.nullable(z.string())),
});
export type Session = z.infer<typeof Session>;

export const ConnectInfo = z.object({
  /** Base URL of the session runtime (or of the API relaying to it): `/upload`, `/connect`, … */
  connectUrl: z.string(),
  /** The runtime's Unix socket on the API's host (the embedded local mode): connect there, with
   * connectUrl naming the paths (its host is only the Host header). Absent: connect to the URL. */
  socketPath: z.optional(z.string()),
  connectToken: z.string(),
});
export type ConnectInfo = z.infer<typeof ConnectInfo>;

export const CreatedSession = z.extend(Session, ConnectInfo.shape);

/** The error code of a create the provisioner refuses outright (local: no working sandbox). */
export const SANDBOX_UNAVAILABLE = 'sandbox_unavailable';
export type CreatedSession = z.infer<typeof CreatedSession>;

/** Which of a session's recorded snapshots a resume or fork starts from: the newest, or the one
 * before it (when the newest fails its checksum). */
export const SnapshotChoice = z.enum(['latest', 'previous']);
export type SnapshotChoice = z.infer<typeof SnapshotChoice>;

/** The error code of a resume or fork whose chosen snapshot fails its checksum (409). */
export const SNAPSHOT_CORRUPT = 'snapshot_corrupt';

/** `catty resume`: the secrets again (the API never stores them), and which snapshot. */
export const ResumeRequest = z.strictObject({
  secrets: CreateSessionRequest.shape.secrets,
  inject: CreateSessionRequest.shape.inject,
  snapshot: z._default(SnapshotChoice, 'latest'),
});
export type ResumeRequest = z.input<typeof ResumeRequest>;

/** A label the user picks (`catty fork --label`): what the generated ones look like, loosely. */
export const USER_LABEL_PATTERN = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$/;
export const UserLabel = z.string().check(z.maxLength(60), z.regex(USER_LABEL_PATTERN, 'a label is lower-case words joined by hyphens, like my-fork-1'));

/** `catty fork`: like a resume, into a new session with its own label. */
export const ForkRequest = z.strictObject({
  ...ResumeRequest.shape,
  label: z.optional(UserLabel),
  /** Another agent than the source's (`catty fork --agent`); absent: the source's. */
  agent: z.optional(AgentNameSchema),
});
export type ForkRequest = z.input<typeof ForkRequest>;

/** A resumed or forked session: as created, plus whether it was already running (a resume of a
 * running session only attaches) and when its snapshot was taken. */
export const ResumedSession = z.extend(CreatedSession, {
  alreadyRunning: z.boolean(),
  snapshotAt: z.nullable(z.string()),
});
export type ResumedSession = z.infer<typeof ResumedSession>;

export const SessionList = z.object({ sessions: z.array(Session) });
export type SessionList = z.infer<typeof SessionList>;

export const DownloadInfo = z.object({
  /** Short-lived presigned GET of the latest snapshot (tar.gz). */
  url: z.string(),
  size: z.int().check(z.nonnegative()),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  createdAt: z.string(),
  /** Seconds the URL stays valid. */
  expiresIn: z.int().check(z.positive()),
});
export type DownloadInfo = z.infer<typeof DownloadInfo>;

export const LogsResponse = z.object({
  /** The last terminal output, base64. */
  data: z.string(),
});
export type LogsResponse = z.infer<typeof LogsResponse>;

export const NetLog = z.object({
  /** The session's refused requests (the newest 500 at most), newest last. */
  refusals: z.array(EgressRefusal),
});
export type NetLog = z.infer<typeof NetLog>;

// --- runtime callbacks -----------------------------------------------------------------------

export const PresignRequest = z.strictObject({
  /** Exact size of the snapshot that will be PUT: signed into the URL as Content-Length. */
  size: z.int().check(z.positive()),
  /** `agent`: the agent's own state beside the workspace (Claude Code's transcripts), kept apart
   * so `catty download` never serves it; absent: the workspace. */
  part: z.optional(z.enum(['workspace', 'agent'])),
});
export type PresignRequest = z.infer<typeof PresignRequest>;

export const PresignResponse = z.object({
  /** Object key minted for this session: `sessions/<id>/snapshots/<time>.tar.gz`. */
  key: z.string(),
  /** Presigned PUT URL; send the body with its Content-Length (no chunked encoding). */
  url: z.string(),
  /** Headers the PUT must carry. */
  headers: z.record(z.string(), z.string()),
});
export type PresignResponse = z.infer<typeof PresignResponse>;

const StoredPart = z.strictObject({
  key: z.string().check(z.minLength(1), z.maxLength(512)),
  size: z.int().check(z.positive()),
  sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
});

export const SnapshotReport = z.extend(StoredPart, {
  /** The agent's state stored beside it (a key presigned with part `agent`). */
  agent: z.optional(StoredPart),
});
export type SnapshotReport = z.infer<typeof SnapshotReport>;

export const Heartbeat = z.strictObject({
  /** Clients attached right now. */
  clients: z.int().check(z.nonnegative()),
  /** Milliseconds since the agent last wrote output. */
  idleMs: z.int().check(z.nonnegative()),
});
export type Heartbeat = z.infer<typeof Heartbeat>;

export const LogsUpload = z.strictObject({
  /** The last terminal output (≤ 64 KiB), base64. */
  data: z.string().check(z.maxLength(128 * 1024)),
});
export type LogsUpload = z.infer<typeof LogsUpload>;

export const ExitReport = z.strictObject({
  code: z.nullable(z.int()),
  signal: z.nullable(z.int()),
});
export type ExitReport = z.infer<typeof ExitReport>;

// --- the browser view (issue 24) -------------------------------------------------------------

/** A page of the browser view the one-time link leads to: `/app/…` only (never another origin,
 * nor out of /app: no segment starts with a dot, and no percent-escape that could spell one). */
export const APP_PATH_PATTERN = /^\/app(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*\/?$/;

/** `catty open`: a one-time sign-in link for the browser, minted with the CLI's token. */
export const WebLinkRequest = z.strictObject({
  /** Where the browser lands once signed in (default `/app/`). */
  next: z.optional(z.string().check(z.maxLength(300), z.regex(APP_PATH_PATTERN))),
});
export type WebLinkRequest = z.input<typeof WebLinkRequest>;

export const WebLink = z.object({
  /** `<public URL>/app/signin?code=…`: single use, short lived. */
  url: z.string(),
  expiresAt: z.string(),
});
export type WebLink = z.infer<typeof WebLink>;

/** The signed-in browser: who, and the CSRF token every request but this one carries
 * (`x-catty-csrf`). */
export const WebMe = z.object({
  email: z.string(),
  csrf: z.string(),
});
export type WebMe = z.infer<typeof WebMe>;

/** Share links live from a minute to a week; an hour unless asked. */
export const MIN_SHARE_TTL_SEC = 60;
export const MAX_SHARE_TTL_SEC = 7 * 86400;
export const DEFAULT_SHARE_TTL_SEC = 3600;

export const ShareRequest = z.strictObject({
  ttlSec: z._default(z.int().check(z.gte(MIN_SHARE_TTL_SEC), z.lte(MAX_SHARE_TTL_SEC)), DEFAULT_SHARE_TTL_SEC),
});
export type ShareRequest = z.input<typeof ShareRequest>;

export const ShareLink = z.object({
  id: z.string(),
  /** `<public URL>/app/share#<token>`: the token stays in the fragment, out of request lines. */
  url: z.string(),
  expiresAt: z.string(),
});
export type ShareLink = z.infer<typeof ShareLink>;

export const SharesRevoked = z.object({
  /** Links that were live and are not any more. */
  revoked: z.int().check(z.nonnegative()),
});
export type SharesRevoked = z.infer<typeof SharesRevoked>;

/** What a share link shows of its session (no ids, no owner, no policy). */
export const SharedSession = z.object({
  label: z.string(),
  status: SessionStatus,
  agent: AgentNameSchema,
  createdAt: z.string(),
  /** When this link stops working. */
  linkExpiresAt: z.string(),
});
export type SharedSession = z.infer<typeof SharedSession>;

export const FileDiffRequest = z.strictObject({
  path: z.string().check(z.minLength(1), z.maxLength(4096)),
});
export type FileDiffRequest = z.input<typeof FileDiffRequest>;

/** The error code of a browser resume/fork of a session that had secrets: the browser has none
 * to send (the API never stores them); the message names the `catty resume` line to run. */
export const SECRETS_REQUIRED = 'secrets_required';

// --- the embedded local control plane --------------------------------------------------------

/**
 * What `catty-api --local-credentials <file>` writes (0600) once it listens: the URL it serves
 * and a token pair for its one local account, so the CLI logs in without a browser.
 */
export const LocalCredentials = z.object({
  version: z.literal(1),
  apiUrl: z.string(),
  accessToken: z.string(),
  refreshToken: z.string(),
  /** ISO time the access token expires. */
  accessTokenExpiresAt: z.string(),
  /** pid of the serving catty-api process. */
  pid: z.int(),
});
export type LocalCredentials = z.infer<typeof LocalCredentials>;

/** catty-api's exit code when another catty-api already serves its data directory: a CLI that
 * raced another to start the local control plane waits for that one's credentials instead. */
export const EXIT_DATA_DIR_BUSY = 3;
