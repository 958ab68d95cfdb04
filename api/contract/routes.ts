/**
 * The API's routes as data: method, path, who may call, and the schemas of what goes in and
 * comes back. The server registers its handlers from this table (api/routes/register.ts) and
 * every caller — the CLI, the runtime's callbacks, the tests — sends through the typed client
 * built from it (./client.ts), so a renamed route or a changed body is a type error on both
 * sides, not a grep.
 *
 * Errors are the seam's ErrorBody with a fitting status, except `deviceToken`, whose 400
 * answers follow RFC 8628 (DeviceTokenError in ./schemas.ts).
 */
import type * as z from '../../session-runtime/wire/zod.js';
import { FileDiff, FileTree } from '../../session-runtime/wire/protocol.js';
import {
  CreatedSession,
  CreateSessionRequest,
  ConnectInfo,
  DeviceCodeResponse,
  DeviceTokenRequest,
  DownloadInfo,
  ExitReport,
  FileDiffRequest,
  ForkRequest,
  Heartbeat,
  LogoutRequest,
  LogsResponse,
  LogsUpload,
  Me,
  NetLog,
  Ok,
  PresignRequest,
  PresignResponse,
  RefreshRequest,
  ResumedSession,
  ResumeRequest,
  Session,
  SessionList,
  SharedSession,
  ShareLink,
  ShareRequest,
  SharesRevoked,
  SnapshotReport,
  TokenResponse,
  WebLink,
  WebLinkRequest,
  WebMe,
} from './schemas.js';

/** none: anyone (health, the device flow); user: an access token, or a signed-in browser's
 * cookie together with its CSRF token in `x-catty-csrf` (every method); web: the browser's
 * cookie alone (only `webMe`, which hands the page its CSRF token); share: a share link's token
 * as the bearer token (read-only routes of one session); machine: a session machine's own
 * token, valid while its session runs. */
export type RouteAuth = 'none' | 'user' | 'web' | 'share' | 'machine';

export interface Route<P extends string = string, Req extends z.ZodMiniType | null = z.ZodMiniType | null, Res extends z.ZodMiniType = z.ZodMiniType> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Hono's syntax: `:name` is a path parameter (one segment). */
  path: P;
  auth: RouteAuth;
  /** JSON body schema; null: the route takes no body. */
  request: Req;
  /** JSON answer on success. */
  response: Res;
  /** Status on success (default 200). */
  status?: 200 | 201;
}

const route = <const P extends string, Req extends z.ZodMiniType | null, Res extends z.ZodMiniType>(r: Route<P, Req, Res>) => r;

export const routes = {
  health: route({ method: 'GET', path: '/healthz', auth: 'none', request: null, response: Ok }),

  // --- users: sign-in ---
  deviceCode: route({ method: 'POST', path: '/v1/auth/device', auth: 'none', request: null, response: DeviceCodeResponse }),
  deviceToken: route({ method: 'POST', path: '/v1/auth/device/token', auth: 'none', request: DeviceTokenRequest, response: TokenResponse }),
  refresh: route({ method: 'POST', path: '/v1/auth/refresh', auth: 'none', request: RefreshRequest, response: TokenResponse }),
  logout: route({ method: 'POST', path: '/v1/auth/logout', auth: 'user', request: LogoutRequest, response: Ok }),
  me: route({ method: 'GET', path: '/v1/me', auth: 'user', request: null, response: Me }),

  // --- users: their own sessions (anyone else's is a 404) ---
  createSession: route({ method: 'POST', path: '/v1/sessions', auth: 'user', request: CreateSessionRequest, response: CreatedSession, status: 201 }),
  listSessions: route({ method: 'GET', path: '/v1/sessions', auth: 'user', request: null, response: SessionList }),
  getSession: route({ method: 'GET', path: '/v1/sessions/:ref', auth: 'user', request: null, response: Session }),
  /** 409 when the session is not running. */
  connect: route({ method: 'POST', path: '/v1/sessions/:ref/connect', auth: 'user', request: null, response: ConnectInfo }),
  stop: route({ method: 'POST', path: '/v1/sessions/:ref/stop', auth: 'user', request: null, response: Session }),
  deleteSession: route({ method: 'DELETE', path: '/v1/sessions/:ref', auth: 'user', request: null, response: Ok }),
  /** 404 `no_snapshot` when there is none yet. */
  download: route({ method: 'GET', path: '/v1/sessions/:ref/download', auth: 'user', request: null, response: DownloadInfo }),
  logs: route({ method: 'GET', path: '/v1/sessions/:ref/logs', auth: 'user', request: null, response: LogsResponse }),
  /** A new machine for an ended session from its snapshot, new tokens; a running one is only
   * connected to. 409 `snapshot_corrupt` when the chosen snapshot fails its checksum, 404
   * `no_snapshot` when there is none. */
  resume: route({ method: 'POST', path: '/v1/sessions/:ref/resume', auth: 'user', request: ResumeRequest, response: ResumedSession }),
  /** A new session from a session's latest snapshot (a running one snapshots first). */
  fork: route({ method: 'POST', path: '/v1/sessions/:ref/fork', auth: 'user', request: ForkRequest, response: ResumedSession, status: 201 }),
  /** The requests its egress proxy refused (`catty logs --net`). */
  netLog: route({ method: 'GET', path: '/v1/sessions/:ref/net-log', auth: 'user', request: null, response: NetLog }),

  // --- the browser view (issue 24) ---
  /** `catty open`: a one-time sign-in link (bearer token only, never the cookie). */
  webLink: route({ method: 'POST', path: '/v1/web/links', auth: 'user', request: WebLinkRequest, response: WebLink, status: 201 }),
  webMe: route({ method: 'GET', path: '/v1/web/me', auth: 'web', request: null, response: WebMe }),
  /** Ends the browser's sign-in (its cookie's web session). */
  webLogout: route({ method: 'POST', path: '/v1/web/logout', auth: 'user', request: null, response: Ok }),
  /** The workspace tree of a running session, changes marked (the runtime's `GET /files`). */
  sessionFiles: route({ method: 'GET', path: '/v1/sessions/:ref/files', auth: 'user', request: null, response: FileTree }),
  sessionFileDiff: route({ method: 'POST', path: '/v1/sessions/:ref/files/diff', auth: 'user', request: FileDiffRequest, response: FileDiff }),
  /** `catty share`: a read-only link (terminal watch + files) that needs no account. */
  createShare: route({ method: 'POST', path: '/v1/sessions/:ref/shares', auth: 'user', request: ShareRequest, response: ShareLink, status: 201 }),
  /** `catty share --revoke`: every live link of the session stops working. */
  revokeShares: route({ method: 'DELETE', path: '/v1/sessions/:ref/shares', auth: 'user', request: null, response: SharesRevoked }),
  shareSession: route({ method: 'GET', path: '/v1/share/session', auth: 'share', request: null, response: SharedSession }),
  shareFiles: route({ method: 'GET', path: '/v1/share/files', auth: 'share', request: null, response: FileTree }),
  shareFileDiff: route({ method: 'POST', path: '/v1/share/files/diff', auth: 'share', request: FileDiffRequest, response: FileDiff }),

  // --- session machines: callbacks ---
  presign: route({ method: 'POST', path: '/v1/runtime/snapshots/presign', auth: 'machine', request: PresignRequest, response: PresignResponse }),
  reportSnapshot: route({ method: 'POST', path: '/v1/runtime/snapshots', auth: 'machine', request: SnapshotReport, response: Ok }),
  heartbeat: route({ method: 'POST', path: '/v1/runtime/heartbeat', auth: 'machine', request: Heartbeat, response: Ok }),
  uploadLogs: route({ method: 'POST', path: '/v1/runtime/logs', auth: 'machine', request: LogsUpload, response: Ok }),
  exit: route({ method: 'POST', path: '/v1/runtime/exit', auth: 'machine', request: ExitReport, response: Ok }),
} as const;

export type Routes = typeof routes;
export type RouteName = keyof Routes;
export type AnyRoute = Routes[RouteName];

/**
 * In a deployment the laptop reaches only the API, so a session's runtime routes (`/upload`,
 * `/connect`, `/logs` of session-runtime/wire/protocol.ts) are mirrored under this prefix
 * (`:id` is the session's id, not its label). `connectUrl` points here then.
 */
export const RELAY_PREFIX = '/v1/sessions/:id/runtime';

/**
 * The browser view (issue 24), outside the JSON table:
 * - `GET /app/…`: the page (one HTML shell, CSP'd; its bundle under /app/assets/).
 * - `GET /app/signin?code=…`: consumes a one-time link (`webLink`), sets the cookie, 303 to `next`.
 * - `WS <WEB_CONNECT_PATH>?offset&cols&rows`: a signed-in browser's terminal (the cookie, and an
 *   Origin equal to the API's public origin); relayed to the runtime's `/connect` with
 *   `client=browser`.
 * - `WS <SHARE_CONNECT_PATH>?offset&cols&rows`: a share link's terminal; the token travels as the
 *   WebSocket subprotocol `catty-share.<token>` (the API answers `catty-share`); relayed with
 *   `client=browser&readonly=1`, and every frame from the browser but pings is dropped.
 * Page URLs: `/app/` (sessions), `/app/s/<label>` (terminal), `/app/s/<label>/files`,
 * `/app/share#<token>`.
 */
export const APP_PREFIX = '/app';
export const SIGNIN_LINK_PATH = '/app/signin';
export const WEB_CONNECT_PATH = '/v1/web/sessions/:ref/connect';
export const SHARE_CONNECT_PATH = '/v1/share/connect';
export const SHARE_SUBPROTOCOL = 'catty-share';
/** The browser's cookie (its web session's token) and the header carrying its CSRF token. */
export const WEB_COOKIE = 'catty_web';
export const CSRF_HEADER = 'x-catty-csrf';

/** `{ ref: string }` for `/v1/sessions/:ref/stop`; `{}` for a path without parameters. */
export type PathParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? { [K in Name]: string } & PathParams<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? { [K in Name]: string }
    : Record<never, never>;

/** The route's path with its parameters filled in, each one URI-encoded. */
export function fillPath<P extends string>(path: P, params: PathParams<P>): string {
  return path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = (params as Record<string, string | undefined>)[name];
    if (value === undefined) throw new Error(`no value for :${name} in ${path}`);
    return encodeURIComponent(value);
  });
}

/** The body a route takes (before defaults apply), or never. */
export type RequestOf<R extends Route> = R['request'] extends z.ZodMiniType ? z.input<R['request']> : never;
/** What a route answers on success. */
export type ResponseOf<R extends Route> = z.output<R['response']>;
