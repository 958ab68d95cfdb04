/**
 * Starts the built `catty-api` (dist/api/bin.js) on 127.0.0.1:0 with a temp data dir, creates a
 * user, logs it in through the real device flow (the /device page's forms, over HTTP), and
 * returns a typed client. Reused by other areas' tests: `const api = await startTestApi();
 * ... await api.close();`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type * as z from '../../session-runtime/wire/zod.js';
import {
  ApiError,
  ConnectInfo,
  CreatedSession,
  DeviceCodeResponse,
  DownloadInfo,
  LogsResponse,
  Me,
  Session,
  SessionList,
  TokenResponse,
  type CreateSessionRequest,
} from '../../api/contract/schemas.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const API_BIN = join(REPO_ROOT, 'dist', 'api', 'bin.js');

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
  }
  get code(): string | undefined {
    return ApiError.safeParse(this.body).data?.error.code;
  }
}

export class ApiClient {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  /** One request; JSON body in, parsed JSON out; non-2xx throws ApiCallError. */
  async request<T>(method: string, path: string, schema: z.ZodMiniType<T> | null, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : null;
    if (!res.ok) throw new ApiCallError(res.status, json);
    return schema ? schema.parse(json) : (json as T);
  }

  me = () => this.request('GET', '/v1/me', Me);
  createSession = (req: CreateSessionRequest = {}) => this.request('POST', '/v1/sessions', CreatedSession, req);
  listSessions = async () => (await this.request('GET', '/v1/sessions', SessionList)).sessions;
  getSession = (ref: string) => this.request('GET', `/v1/sessions/${encodeURIComponent(ref)}`, Session);
  connect = (ref: string) => this.request('POST', `/v1/sessions/${encodeURIComponent(ref)}/connect`, ConnectInfo);
  stop = (ref: string) => this.request('POST', `/v1/sessions/${encodeURIComponent(ref)}/stop`, Session);
  deleteSession = (ref: string) => this.request('DELETE', `/v1/sessions/${encodeURIComponent(ref)}`, null);
  download = (ref: string) => this.request('GET', `/v1/sessions/${encodeURIComponent(ref)}/download`, DownloadInfo);
  logs = async (ref: string) => Buffer.from((await this.request('GET', `/v1/sessions/${encodeURIComponent(ref)}/logs`, LogsResponse)).data, 'base64');
}

export interface StartTestApiOptions {
  /** Extra environment for catty-api (CATTY_* settings). */
  env?: Record<string, string>;
  /** Runtime knobs passed to every session (CATTY_RUNTIME_ENV). */
  runtimeEnv?: Record<string, string>;
  /** Reuse a data dir (default: a fresh temp dir, removed by close()). */
  dataDir?: string;
  email?: string;
  password?: string;
}

export interface TestApi {
  url: string;
  dataDir: string;
  pid: number;
  email: string;
  password: string;
  client: ApiClient;
  /** Another account, logged in. */
  addUser(email: string, password?: string): Promise<ApiClient>;
  /** SIGKILLs the API (machines keep running) and starts a new one on the same data dir. */
  restart(): Promise<void>;
  /** The API's stderr so far (pino JSON lines). */
  output(): string;
  /** Stops the API and every machine it started; removes the data dir. Idempotent. */
  close(): Promise<void>;
}

async function waitFor<T>(what: string, fn: () => T | null | undefined | Promise<T | null | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function addUserCli(env: NodeJS.ProcessEnv, email: string, password: string): void {
  const res = spawnSync(process.execPath, [API_BIN, 'users', 'add', email, '--password-stdin'], { env, input: `${password}\n`, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`catty-api users add failed: ${res.stderr}`);
}

/** Device flow over HTTP: start, sign in on /device, approve, poll for tokens. */
export async function deviceLogin(url: string, email: string, password: string): Promise<TokenResponse> {
  const codes = DeviceCodeResponse.parse(await (await fetch(`${url}/v1/auth/device`, { method: 'POST' })).json());
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair!.split('=');
      jar.set(k!, v!);
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const page1 = await fetch(codes.verification_uri_complete);
  remember(page1);
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const login = await fetch(`${url}/device/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ email, password, code: codes.user_code, csrf: csrfOf(await page1.text()) }),
  });
  if (login.status !== 303) throw new Error(`device sign-in failed: ${login.status}`);
  remember(login);
  const page2 = await fetch(codes.verification_uri_complete, { headers: { cookie: cookie() } });
  const decide = await fetch(`${url}/device/decide`, {
    method: 'POST',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ code: codes.user_code, csrf: csrfOf(await page2.text()), action: 'approve' }),
  });
  if (decide.status !== 200) throw new Error(`device approval failed: ${decide.status}`);
  return waitFor(
    'device token',
    async () => {
      const res = await fetch(`${url}/v1/auth/device/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: codes.device_code }),
      });
      const body: unknown = await res.json();
      if (res.ok) return TokenResponse.parse(body);
      const error = (body as { error?: string }).error;
      if (error !== 'authorization_pending' && error !== 'slow_down') throw new Error(`device token: ${error}`);
      await new Promise((r) => setTimeout(r, codes.interval * 1000));
      return null;
    },
    30_000,
  );
}

/** Kills every machine recorded under `<dataDir>/machines` (SIGKILL; tests clean up hard). */
export function killMachines(dataDir: string): void {
  const dir = join(dataDir, 'machines');
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    try {
      const record = JSON.parse(readFileSync(join(dir, name, 'machine.json'), 'utf8')) as { pid: number; runtimePid: number | null };
      for (const pid of [record.runtimePid, record.pid]) {
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    } catch {
      // no record: already stopped
    }
  }
}

export async function startTestApi(options: StartTestApiOptions = {}): Promise<TestApi> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'catty-api-test-'));
  const email = options.email ?? 'tester@example.com';
  const password = options.password ?? 'tester-password-1';
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CATTY_DATA_DIR: dataDir,
    CATTY_API_LISTEN: '127.0.0.1:0',
    CATTY_PROVISIONER: 'local',
    CATTY_DEVICE_CODE_INTERVAL_SEC: '1',
    CATTY_STOP_GRACE_MS: '10000',
    CATTY_LOG_LEVEL: 'debug',
    ...(options.runtimeEnv ? { CATTY_RUNTIME_ENV: JSON.stringify(options.runtimeEnv) } : {}),
    ...options.env,
  };
  let proc: ChildProcess;
  let stderr = '';
  const launch = async (): Promise<string> => {
    proc = spawn(process.execPath, [API_BIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return waitFor(
      'catty-api to listen',
      () => {
        if (proc.exitCode !== null) throw new Error(`catty-api exited ${proc.exitCode}: ${stderr.slice(-2000)}`);
        return /catty-api listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      },
      30_000,
    );
  };
  addUserCli(env, email, password);
  let url = await launch();
  const tokens = await deviceLogin(url, email, password);
  const api: TestApi = {
    get url() {
      return url;
    },
    dataDir,
    get pid() {
      return proc.pid!;
    },
    email,
    password,
    client: new ApiClient(url, tokens.access_token),
    async addUser(otherEmail, otherPassword = `${otherEmail}-password`) {
      addUserCli(env, otherEmail, otherPassword);
      return new ApiClient(url, (await deviceLogin(url, otherEmail, otherPassword)).access_token);
    },
    async restart() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
      url = await launch();
      api.client = new ApiClient(url, tokens.access_token);
    },
    output: () => stderr,
    async close() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      killMachines(dataDir);
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return api;
}

/** Polls `fn` every 100 ms until it returns something other than null; throws naming `what`
 * after `timeoutMs`. */
export async function poll<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
