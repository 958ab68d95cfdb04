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
import {
  CreatedSession,
  CreateSessionRequest,
  ConnectInfo,
  DeviceCodeResponse,
  DeviceTokenRequest,
  DownloadInfo,
  ExitReport,
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
  SnapshotReport,
  TokenResponse,
} from './schemas.js';

/** none: anyone (health, the device flow); user: an access token; machine: a session
 * machine's own token, valid while its session runs. */
export type RouteAuth = 'none' | 'user' | 'machine';

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
