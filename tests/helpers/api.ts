/**
 * Starts the built `catty-api` (dist/api/bin.js) on 127.0.0.1:0 with a temp data dir, creates a
 * user, logs it in through the real device flow (the /device page's forms, over HTTP), and
 * returns a typed client. The API starts its catty-node (detached: it outlives the API, as it
 * would a restart); close() kills it with the machines. As a fixture that closes it after the file: `testWithApi(options)`
 * (tests/helpers/fixtures.ts); or `const api = await startTestApi(); ... await api.close();`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiClient, type ApiClient } from '../../api/contract/client.js';
import { routes } from '../../api/contract/routes.js';
import type { TokenResponse } from '../../api/contract/schemas.js';
import { nodeDirOf, pidFileOf } from '../../api/node/paths.js';
import { API_BIN } from './paths.js';
import type { Db } from '../../api/state/db.js';
import { freshDatabaseUrl, openApiDb, testDatabaseKind, type TestDatabaseKind } from './postgres.js';
import { waitFor } from './wait.js';

/** The contract's typed client (api/contract/client.ts) over fetch, signed in with `token`. */
export function testClient(url: string, token?: string): ApiClient {
  return createApiClient({ baseUrl: url, transport: fetch, token: () => token });
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
  /** The state database (default: CATTY_TEST_DATABASE, else SQLite). */
  database?: TestDatabaseKind;
}

export interface TestApi {
  url: string;
  dataDir: string;
  pid: number;
  email: string;
  password: string;
  /** The contract's client, signed in as this user. */
  client: ApiClient;
  /** This user's access token (for requests the client does not make: WebSockets, raw bodies). */
  token: string;
  /** Another account, logged in. */
  addUser(email: string, password?: string): Promise<ApiClient>;
  /** SIGKILLs the API (machines and catty-node keep running); restart() starts it again. */
  kill(): Promise<void>;
  /** SIGKILLs the API (unless it is down already) and starts a new one on the same data dir. */
  restart(): Promise<void>;
  /** The API's stderr so far (pino JSON lines). */
  output(): string;
  /** Opens this API's database (its Postgres database, or <dataDir>/catty.db); close it after. */
  openDb(): Promise<Db>;
  /** The pid of its catty-node (null when none runs). */
  nodePid(): number | null;
  /** Stops the API, its catty-node and every machine it started; removes the data dir. Idempotent. */
  close(): Promise<void>;
}

function addUserCli(env: NodeJS.ProcessEnv, email: string, password: string): void {
  const res = spawnSync(process.execPath, [API_BIN, 'users', 'add', email, '--password-stdin'], { env, input: `${password}\n`, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`catty-api users add failed: ${res.stderr}`);
}

/** Device flow over HTTP: start, sign in on /device, approve, poll for tokens. */
export async function deviceLogin(url: string, email: string, password: string): Promise<TokenResponse> {
  const anonymous = testClient(url);
  const codes = await anonymous.call(routes.deviceCode);
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
  // Polled at the interval the API asked for, as the CLI does (faster earns a slow_down).
  return waitFor(
    async () => {
      const { status, json: body } = await anonymous.send(routes.deviceToken, {
        body: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: codes.device_code },
      });
      if (status === 200) return routes.deviceToken.response.parse(body);
      const error = (body as { error?: string }).error;
      if (error !== 'authorization_pending' && error !== 'slow_down') throw new Error(`device token: ${error}`);
      return null;
    },
    'device token',
    { timeoutMs: 30_000, everyMs: codes.interval * 1000 },
  );
}

/** The pid of the catty-node serving `dataDir` (its pid file), if one runs. */
export function nodePid(dataDir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidFileOf(nodeDirOf(dataDir)), 'utf8'), 10);
    // Only a live catty-node: a pid file outlives a SIGKILLed node, and its pid may be reused.
    return Number.isInteger(pid) && /node\/bin\.js/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1')) ? pid : null;
  } catch {
    return null;
  }
}

/** Kills every machine recorded under `<dataDir>/machines` and the data dir's catty-node (SIGKILL; tests clean up hard). */
export function killMachines(dataDir: string): void {
  const node = nodePid(dataDir);
  if (node !== null) process.kill(node, 'SIGKILL');
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

/** The Postgres database of a data dir's API: one per data dir (kept beside it, so an API
 * started again on the same data dir finds its state). */
async function testDatabaseOf(dataDir: string): Promise<string> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'test-database-url');
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const url = await freshDatabaseUrl();
  writeFileSync(file, url, { mode: 0o600 });
  return url;
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
    // CATTY_TEST_DATABASE=postgres: each API its own database on the run's test server.
    ...((options.database ?? testDatabaseKind()) === 'postgres' && !options.env?.CATTY_DATABASE_URL ? { CATTY_DATABASE_URL: await testDatabaseOf(dataDir) } : {}),
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
      () => {
        if (proc.exitCode !== null) throw new Error(`catty-api exited ${proc.exitCode}: ${stderr.slice(-2000)}`);
        return /catty-api listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      },
      'catty-api to listen',
      { timeoutMs: 30_000, everyMs: 50 },
    );
  };
  addUserCli(env, email, password);
  let url: string;
  let tokens: TokenResponse;
  try {
    url = await launch();
    tokens = await deviceLogin(url, email, password);
  } catch (err) {
    // A start that fails half-way leaves nothing running: the API, its node, its machines.
    proc!.kill('SIGKILL');
    killMachines(dataDir);
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
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
    client: testClient(url, tokens.access_token),
    token: tokens.access_token,
    async addUser(otherEmail, otherPassword = `${otherEmail}-password`) {
      addUserCli(env, otherEmail, otherPassword);
      return testClient(url, (await deviceLogin(url, otherEmail, otherPassword)).access_token);
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await api.kill();
      url = await launch();
      api.client = testClient(url, tokens.access_token);
    },
    output: () => stderr,
    openDb: () => openApiDb(dataDir, env),
    nodePid: () => nodePid(dataDir),
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

/** A session's last terminal output as the API keeps it (GET logs, base64 decoded). */
export async function sessionLogs(client: ApiClient, ref: string): Promise<Buffer> {
  return Buffer.from((await client.call(routes.logs, { params: { ref } })).data, 'base64');
}
