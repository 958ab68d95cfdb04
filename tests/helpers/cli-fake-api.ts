/**
 * A small fake control-plane API (node:http) serving contract-shaped JSON (api/contract.ts), for
 * CLI tests that need an API before — or instead of — the real one.
 */
import http from 'node:http';
import type { CreatedSession, DownloadInfo, Session } from '../../api/contract/schemas.js';
import { saveLogin } from './credentials.js';
import { closeServer, listenLoopback } from './loopback.js';
import { matchRoute } from './routes.js';
import { afterAll, beforeAll } from 'vitest';
import { FakeRuntime } from './fake-runtime.js';

export interface FakeApiState {
  accessToken: string;
  refreshToken: string;
  sessions: Session[];
  /** Where created sessions' runtimes live. */
  connectUrl: string;
  /** Handed out beside connectUrl when set: the runtime's Unix socket. */
  socketPath?: string;
  connectToken: string;
  download: DownloadInfo | null;
  logs: Buffer;
  created: unknown[];
  refreshes: number;
  requests: string[];
}

export class FakeApi {
  readonly url: string;
  readonly state: FakeApiState;
  readonly #server: http.Server;

  private constructor(server: http.Server, state: FakeApiState, url: string) {
    this.#server = server;
    this.state = state;
    this.url = url;
  }

  static async start(partial: Partial<FakeApiState> = {}): Promise<FakeApi> {
    const state: FakeApiState = {
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
      sessions: [],
      connectUrl: 'http://127.0.0.1:9',
      connectToken: 'connect-token',
      download: null,
      logs: Buffer.alloc(0),
      created: [],
      refreshes: 0,
      requests: [],
      ...partial,
    };
    const server = http.createServer();
    const api = new FakeApi(server, state, (await listenLoopback(server)).url);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => api.#handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    return api;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): unknown {
    const s = this.state;
    const url = new URL(req.url ?? '/', this.url);
    const route = `${req.method} ${url.pathname}`;
    s.requests.push(route);
    const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    const error = (status: number, code: string, message: string) => json(status, { error: { code, message } });
    const matched = matchRoute(req.method, url.pathname);
    const session = matched?.params.ref === undefined ? undefined : s.sessions.find((x) => x.label === matched.params.ref || x.id === matched.params.ref);
    switch (matched?.name) {
      case 'refresh': {
        const parsed = JSON.parse(body) as { refresh_token?: string };
        if (parsed.refresh_token !== s.refreshToken) return error(401, 'unauthorized', 'bad refresh token');
        s.refreshes++;
        s.accessToken = `access-${s.refreshes + 1}`;
        s.refreshToken = `refresh-${s.refreshes + 1}`;
        return json(200, { access_token: s.accessToken, refresh_token: s.refreshToken, token_type: 'Bearer', expires_in: 3600 });
      }
      case 'logout':
        return json(200, { ok: true });
    }
    if (req.headers.authorization !== `Bearer ${s.accessToken}`) return error(401, 'unauthorized', 'invalid or expired token');
    if (matched?.params.ref !== undefined && !session) return error(404, 'not_found', 'no such session');
    switch (matched?.name) {
      case 'me':
        return json(200, { id: 'u1', email: 'me@example.com' });
      case 'listSessions':
        return json(200, { sessions: s.sessions });
      case 'createSession': {
        s.created.push(JSON.parse(body));
        const now = new Date().toISOString();
        const created: Session = {
          id: `id-${s.sessions.length + 1}`,
          label: `brave-otter-${1000 + s.sessions.length}`,
          status: 'running',
          agent: 'claude',
          provisioner: 'local',
          createdAt: now,
          lastActivityAt: now,
          endedAt: null,
          exitCode: null,
          ttlSec: 3600,
          detail: null,
        };
        s.sessions.push(created);
        const answer: CreatedSession = { ...created, connectUrl: s.connectUrl, ...(s.socketPath ? { socketPath: s.socketPath } : {}), connectToken: s.connectToken };
        return json(201, answer);
      }
      case 'getSession':
        return json(200, session);
      case 'deleteSession':
        s.sessions = s.sessions.filter((x) => x !== session);
        return json(200, { ok: true });
      case 'stop':
        session!.status = 'stopped';
        return json(200, session);
      case 'connect':
        if (session!.status !== 'running') return error(409, 'not_running', 'the session is not running');
        return json(200, { connectUrl: s.connectUrl, ...(s.socketPath ? { socketPath: s.socketPath } : {}), connectToken: s.connectToken });
      case 'download':
        return s.download ? json(200, s.download) : error(404, 'no_snapshot', 'no snapshot yet');
      case 'logs':
        return json(200, { data: s.logs.toString('base64') });
      default:
        return error(404, 'not_found', 'no such route');
    }
  }

  addSession(partial: Partial<Session> & { label: string }): Session {
    const now = new Date().toISOString();
    const session: Session = { id: `id-${partial.label}`, status: 'running', agent: 'claude', provisioner: 'local', createdAt: now, lastActivityAt: now, endedAt: null, exitCode: null, ttlSec: 3600, detail: null, ...partial };
    this.state.sessions.push(session);
    return session;
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }
}

/** Logs the CLI whose $CATTY_HOME is `home` in to `api` (with its current tokens). */
export function loginTo(home: string, api: FakeApi): void {
  saveLogin(home, { apiUrl: api.url, accessToken: api.state.accessToken, refreshToken: api.state.refreshToken });
}

/**
 * A fake API whose sessions point at a fake runtime, for the calling test file: both start before
 * its first test and close after its last. Read `.api` and `.runtime` inside the tests.
 */
export function useFakeSession(): { api: FakeApi; runtime: FakeRuntime } {
  const pair = {} as { api: FakeApi; runtime: FakeRuntime };
  beforeAll(async () => {
    pair.runtime = await FakeRuntime.start();
    pair.api = await FakeApi.start({ connectUrl: pair.runtime.url, connectToken: pair.runtime.token });
  });
  afterAll(async () => {
    await pair.runtime?.close();
    await pair.api?.close();
  });
  return pair;
}
