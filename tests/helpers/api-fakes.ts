/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Fakes for route tests of the API: a provisioner whose "machines" are tiny HTTP servers on
 * 127.0.0.1:0 answering /healthz and /logs like a runtime, an in-memory object store, and
 * `makeTestDeps` (in-memory SQLite — or, with CATTY_TEST_DATABASE=postgres, a fresh Postgres
 * database of the run's test server — a movable clock, silent logs).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { loadConfig, type Config } from '../../api/config.js';
import type { Deps } from '../../api/deps.js';
import { silentLogger } from '../../api/logger.js';
import type { Machine, MachineInfo, MachineSpec, Provisioner } from '../../api/provisioners/types.js';
import type { ObjectStorage } from '../../api/storage/types.js';
import { createApp } from '../../api/app.js';
import { issueTokenPair } from '../../api/auth/tokens.js';
import { createApiClient, type ApiClient } from '../../api/contract/client.js';
import { fillPath, routes, type PathParams, type Route } from '../../api/contract/routes.js';
import type { CreateSessionRequest } from '../../api/contract/schemas.js';
import type { SessionEgress } from '../../api/services/egress.js';
import type { EgressRefusal, NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { createUser } from '../../api/services/users.js';
import { closeServer, listenLoopback } from './loopback.js';
import { openTestDb, testDatabaseKind, type TestDatabaseKind } from './postgres.js';

interface FakeMachine {
  spec: MachineSpec;
  server: Server;
  url: string;
  alive: boolean;
  logs: Buffer;
}

export class FakeProvisioner implements Provisioner {
  readonly kind = 'local' as const;
  readonly machines = new Map<string, FakeMachine>();
  /** Set to make the next machines never answer /healthz. */
  unhealthy = false;
  stops: string[] = [];

  async start(spec: MachineSpec): Promise<Machine> {
    const machineId = `fake-${randomBytes(4).toString('hex')}`;
    const entry: Partial<FakeMachine> = { spec, alive: true, logs: Buffer.from(`hello from ${spec.label}\r\n`) };
    const unhealthy = this.unhealthy;
    const server = createServer((req, res) => {
      if (req.url === '/healthz' && !unhealthy) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ok: true, uploaded: false, agent: 'waiting', exitCode: null }));
      } else if (req.url === '/logs' && req.headers.authorization === `Bearer ${spec.connectToken}`) {
        res.end(entry.logs);
      } else {
        res.statusCode = unhealthy ? 503 : 401;
        res.end();
      }
    });
    entry.server = server;
    entry.url = (await listenLoopback(server)).url;
    this.machines.set(machineId, entry as FakeMachine);
    return { machineId, runtimeUrl: entry.url };
  }

  async stop(machineId: string): Promise<void> {
    this.stops.push(machineId);
    const m = this.machines.get(machineId);
    if (!m || !m.alive) return;
    m.alive = false;
    await closeServer(m.server);
  }

  async isAlive(machineId: string): Promise<boolean> {
    return this.machines.get(machineId)?.alive ?? false;
  }

  async list(): Promise<MachineInfo[]> {
    return [...this.machines.entries()].filter(([, m]) => m.alive).map(([machineId, m]) => ({ machineId, runtimeUrl: m.url, sessionId: m.spec.sessionId, alive: true }));
  }

  async close(): Promise<void> {
    for (const id of this.machines.keys()) await this.stop(id);
  }
}

export class MemoryStorage implements ObjectStorage {
  readonly objects = new Map<string, Buffer>();
  readonly deleted: string[] = [];
  async presignPut(key: string, size: number) {
    return { url: `http://storage.invalid/${key}?put`, headers: { 'content-length': String(size) } };
  }
  async presignGet(key: string) {
    return `http://storage.invalid/${key}?get`;
  }
  async head(key: string) {
    const body = this.objects.get(key);
    return body ? { size: body.length } : null;
  }
  async delete(key: string) {
    this.deleted.push(key);
    this.objects.delete(key);
  }
  async ensureBucket() {}
  async close() {}
}

/** Egress listeners as records: which sessions have one open, with which policy. */
export class MemoryEgress implements SessionEgress {
  readonly opened = new Map<string, NetworkPolicy>();
  readonly closed: string[] = [];
  readonly restored: string[] = [];
  readonly refused = new Map<string, EgressRefusal[]>();
  async start(): Promise<void> {}
  async open(sessionId: string, policy: NetworkPolicy): Promise<string> {
    this.opened.set(sessionId, policy);
    return `/nonexistent/egress/${sessionId}`;
  }
  async close(sessionId: string): Promise<void> {
    this.opened.delete(sessionId);
    this.closed.push(sessionId);
  }
  async restore(running: ReadonlyArray<{ id: string; policy: NetworkPolicy }>): Promise<void> {
    for (const { id, policy } of running) {
      this.opened.set(id, policy);
      this.restored.push(id);
    }
  }
  async refusals(sessionId: string): Promise<EgressRefusal[]> {
    return this.refused.get(sessionId) ?? [];
  }
  async shutdown(): Promise<void> {
    this.opened.clear();
  }
}

export interface TestDeps extends Deps {
  provisioner: FakeProvisioner;
  storage: MemoryStorage;
  egress: MemoryEgress;
  clock: { ms: number };
}

export async function makeTestDeps(overrides: Partial<Config> = {}, database: TestDatabaseKind = testDatabaseKind()): Promise<TestDeps> {
  const config: Config = { ...loadConfig({}, { CATTY_DATA_DIR: '/nonexistent' }), healthTimeoutMs: 3000, stopGraceMs: 100, ...overrides };
  const clock = { ms: Date.parse('2026-01-01T00:00:00.000Z') };
  return {
    config,
    db: await openTestDb(database),
    key: randomBytes(32),
    provisioner: new FakeProvisioner(),
    storage: new MemoryStorage(),
    egress: new MemoryEgress(),
    logger: silentLogger(),
    now: () => clock.ms,
    clock,
    publicUrl: () => 'http://api.test',
    machineApiUrl: () => 'http://api.test',
    background: new Set(),
  };
}

type RequestApp = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

interface CallOptions {
  token?: string;
  /** Sent as JSON as it is, not checked against the route's schema: tests send hostile bodies. */
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/** One request to a route of the contract's table through `app.request()`, JSON in and out. */
export async function call<R extends Route>(
  app: RequestApp,
  route: R,
  options: CallOptions & (keyof PathParams<R['path']> extends never ? { params?: undefined } : { params: PathParams<R['path']> }) = {} as never,
): Promise<{ status: number; body: any; headers: Headers }> {
  const path = options.params ? fillPath(route.path, options.params as PathParams<R['path']>) : route.path;
  return page(app, route.method, path, options);
}

/** One request to a path outside the JSON contract (the /device pages, a path nothing serves). */
export async function page(app: RequestApp, method: string, path: string, options: CallOptions = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await app.request(path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (HTML pages)
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** The contract's typed client over `app.request()` (no socket), signed in with `token`. */
export function appClient(app: RequestApp, token?: string): ApiClient {
  return createApiClient({ baseUrl: 'http://api.test', transport: (url, init) => Promise.resolve(app.request(url, init)), token: () => token });
}

/** The app over fake deps with two users, alice and bob, and an access token for each. */
export async function appWithTwoUsers(overrides: Partial<Config> = {}) {
  const deps = await makeTestDeps(overrides);
  const app = createApp(deps);
  const alice = await createUser(deps, 'alice@example.com', 'password-alice');
  const bob = await createUser(deps, 'bob@example.com', 'password-bob');
  return { deps, app, alice: (await issueTokenPair(deps, alice.id)).access_token, bob: (await issueTokenPair(deps, bob.id)).access_token };
}

/** The app over fake deps with one user whose `create()` also returns the fake machine's token,
 * for the runtime-callback routes. */
export async function appWithMachines(overrides: Partial<Config> = {}) {
  const deps = await makeTestDeps(overrides);
  const app = createApp(deps);
  const alice = await createUser(deps, 'alice@example.com', 'password-alice');
  const token = (await issueTokenPair(deps, alice.id)).access_token;
  const create = async (body: CreateSessionRequest = {}) => {
    const s = await appClient(app, token).call(routes.createSession, { body });
    const machine = [...deps.provisioner.machines.values()].find((m) => m.spec.sessionId === s.id)!;
    return { ...s, machineToken: machine.spec.machineToken };
  };
  return { deps, app, token, create };
}
