/**
 * Test helpers for the session runtime: start the built `catty-session` on 127.0.0.1:0 with a
 * temp workspace, and a WebSocket client that records everything it receives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { RuntimePath, SnapshotResult, parseRuntimeMessage, type RuntimeMessage } from '../../session-runtime/wire/protocol.js';
import { READY_LINE_PREFIX, RUNTIME_NODE_OPTIONS } from '../../session-runtime/wire/runtime-env.js';
import { endpointOfReadyAddress } from '../../session-runtime/wire/runtime-address.js';
import { FIXTURE_AGENTS, RUNTIME_BIN } from './paths.js';
import { elapse, waitFor } from './wait.js';

/** `CATTY_AGENT_CMD` for a fixture agent: `agentCmd('echo.mjs', 'arg')`. */
export function agentCmd(fixture: string, ...args: string[]): string {
  return JSON.stringify([process.execPath, path.join(FIXTURE_AGENTS, fixture), ...args]);
}

export interface RuntimeProcess {
  url: string;
  wsUrl: string;
  /** Set when it listens on a Unix socket (`url` then only names the paths). */
  socketPath?: string;
  token: string;
  workspace: string;
  /** Temp dir holding the workspace and anything else this runtime owns (removed by stop). */
  dir: string;
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, wait (bounded), SIGKILL, remove the temp dir. Idempotent. */
  stop(): Promise<number | null>;
  headers(extra?: Record<string, string>): Record<string, string>;
}

export interface StartOptions {
  /** Extra environment (CATTY_AGENT_CMD, CATTY_NO_UPLOAD, ...). */
  env?: Record<string, string>;
  /** How long to wait for the ready line. */
  timeoutMs?: number;
  /** `unix`: listen on a Unix socket in its temp dir (CATTY_LISTEN=unix:PATH), not 127.0.0.1:0. */
  listen?: 'tcp' | 'unix';
}

export async function startRuntime(options: StartOptions = {}): Promise<RuntimeProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catty-rt-test-'));
  const workspace = path.join(dir, 'workspace');
  fs.mkdirSync(workspace);
  const token = randomBytes(24).toString('hex');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CATTY_WORKSPACE: workspace,
    CATTY_LISTEN: options.listen === 'unix' ? `unix:${path.join(dir, 'runtime.sock')}` : '127.0.0.1:0',
    CATTY_CONNECT_TOKEN: token,
    CATTY_AGENT_HOME: path.join(dir, 'home'),
    CATTY_AGENT_CMD: agentCmd('echo.mjs'),
    // As every launcher runs it (local provisioner; see RUNTIME_NODE_OPTIONS).
    NODE_OPTIONS: RUNTIME_NODE_OPTIONS,
    ...options.env,
  };
  const proc = spawn(process.execPath, [RUNTIME_BIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const address = await Promise.race([
    waitFor(() => new RegExp(`^${READY_LINE_PREFIX}((?:http|unix):\\S+)$`, 'm').exec(out)?.[1], 'the ready line', { timeoutMs: options.timeoutMs ?? 20_000, everyMs: 10 }),
    exited.then((code) => {
      throw new Error(`catty-session exited (${code}) before ready: ${err}`);
    }),
  ]);
  const { url, socketPath } = endpointOfReadyAddress(address);
  let stopped: Promise<number | null> | null = null;
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    ...(socketPath ? { socketPath } : {}),
    token,
    workspace,
    dir,
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    headers: (extra = {}) => ({ authorization: `Bearer ${token}`, ...extra }),
    stop: () =>
      (stopped ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 25_000);
        const code = await exited;
        clearTimeout(timer);
        fs.rmSync(dir, { recursive: true, force: true });
        return code;
      })()),
  };
}

/**
 * Where a test reaches a runtime: a runtime of its own (`url`), or a session's as the API hands
 * it out (`connectUrl`, and `socketPath` when the runtime listens on a Unix socket).
 */
export type RuntimeTarget = { url: string; socketPath?: string } | { connectUrl: string; socketPath?: string };

/**
 * `fetch` for a runtime, through its Unix socket when it has one (the global fetch cannot use a
 * socket). Rejects, as fetch does, when nothing listens there.
 */
export function runtimeFetch(target: RuntimeTarget, pathAndQuery: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array | string } = {}): Promise<Response> {
  const base = 'url' in target ? target.url : target.connectUrl;
  return new Promise((resolve, reject) => {
    const req = http.request(`${base.replace(/\/+$/, '')}${pathAndQuery}`, { method: init.method ?? 'GET', headers: init.headers, socketPath: target.socketPath }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve(new Response(new Uint8Array(Buffer.concat(chunks)), { status: res.statusCode ?? 0, headers }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** What TestClient needs to open `/connect` of a session's runtime, from the API's connect info. */
export function sessionWs(info: { connectUrl: string; socketPath?: string; connectToken: string }): { wsUrl: string; token: string; socketPath?: string } {
  return { wsUrl: info.connectUrl.replace(/^http/, 'ws'), token: info.connectToken, ...(info.socketPath ? { socketPath: info.socketPath } : {}) };
}

/** POSTs a zip body to /upload. */
export async function upload(rt: RuntimeProcess, body: Buffer, query = ''): Promise<{ status: number; json: unknown }> {
  const res = await runtimeFetch(rt, `/upload${query}`, {
    method: 'POST',
    headers: rt.headers({ 'content-type': 'application/zip' }),
    body: new Uint8Array(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/**
 * POST /snapshot: a snapshot now, queued behind a running one. Its answer is a barrier: once it
 * says `unchanged`, the latest stored snapshot holds the workspace as it is.
 */
export async function snapshotNow(rt: Pick<RuntimeProcess, 'url' | 'socketPath' | 'headers'>): Promise<SnapshotResult['outcome']> {
  const res = await runtimeFetch(rt, RuntimePath.snapshot, { method: 'POST', headers: rt.headers() });
  if (!res.ok) throw new Error(`POST /snapshot: ${res.status} ${await res.text()}`);
  return SnapshotResult.parse(await res.json()).outcome;
}

/** A WebSocket client that records output bytes, control messages and the close. */
export class TestClient {
  readonly ws: WebSocket;
  readonly chunks: Buffer[] = [];
  bytes = 0;
  readonly messages: RuntimeMessage[] = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  /** Set when the upgrade was refused: the HTTP status. */
  rejectedStatus: number | null = null;

  /** `rt.socketPath`: open it through the runtime's Unix socket (`wsUrl` names the path). */
  constructor(rt: Pick<RuntimeProcess, 'wsUrl' | 'token'> & { socketPath?: string }, query: { offset?: number; cols?: number; rows?: number } = {}, token = rt.token) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const socketPath = rt.socketPath;
    this.ws = new WebSocket(`${rt.wsUrl}/connect?${params}`, {
      headers: { authorization: `Bearer ${token}` },
      maxPayload: 64 * 1024 * 1024,
      ...(socketPath ? { createConnection: () => net.createConnection(socketPath) } : {}),
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        this.rejectedStatus = res.statusCode ?? 0;
        reject(new Error(`upgrade refused: ${res.statusCode}`));
      });
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        this.chunks.push(data);
        this.bytes += data.length;
      } else {
        const msg = parseRuntimeMessage(data.toString());
        if (!msg) throw new Error(`invalid runtime message: ${data.toString().slice(0, 200)}`);
        this.messages.push(msg);
      }
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
  }

  output(): Buffer {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return this.output().toString('utf8');
  }
  hello(): Extract<RuntimeMessage, { type: 'hello' }> | undefined {
    return this.messages.find((m): m is Extract<RuntimeMessage, { type: 'hello' }> => m.type === 'hello');
  }
  ofType<T extends RuntimeMessage['type']>(type: T): Extract<RuntimeMessage, { type: T }>[] {
    return this.messages.filter((m): m is Extract<RuntimeMessage, { type: T }> => m.type === type);
  }
  send(text: string | Buffer): void {
    this.ws.send(text, { binary: typeof text !== 'string' });
  }
  control(message: object): void {
    this.ws.send(JSON.stringify(message));
  }
  waitForText(needle: string, timeoutMs = 15_000): Promise<true> {
    return waitFor(() => this.text().includes(needle), () => `output containing ${JSON.stringify(needle)} (got ${JSON.stringify(this.text().slice(-200))})`, { timeoutMs, everyMs: 10 });
  }
  /** Resolves with the hello once it came (every connection starts with one). */
  waitForHello(timeoutMs = 15_000): Promise<Extract<RuntimeMessage, { type: 'hello' }>> {
    return waitFor(() => this.hello(), 'hello', { timeoutMs, everyMs: 10 });
  }
  close(): Promise<number> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return this.closed;
  }
  /** Drops the TCP connection without a close handshake (a network cut). */
  drop(): Promise<number> {
    this.ws.terminate();
    return this.closed;
  }
}

/** The bytes `flood.mjs` writes for records [0, records). */
export function floodBytes(records: number): Buffer {
  let s = '';
  for (let i = 0; i < records; i++) s += String(i).padStart(15, '0') + '|';
  return Buffer.from(s, 'latin1');
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** VmRSS of a process in KiB (Linux). */
export function rssKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

/** The peak VmRSS (KiB) of each pid, sampled every `everyMs` for `durationMs`: a measurement
 * over a period the test chose (a stall, a flood), so it takes that long on purpose. */
export async function peakRssKiB(pids: number[], durationMs: number, everyMs = 50): Promise<number[]> {
  const peaks = pids.map(() => 0);
  const until = Date.now() + durationMs;
  while (Date.now() < until) {
    pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i]!, rssKiB(pid))));
    await elapse(everyMs);
  }
  return peaks;
}

export interface SyncedFile {
  action: 'write' | 'delete';
  content?: Buffer;
  executable?: boolean;
  sha256?: string;
}

/**
 * Replays a client's file messages into the latest state per path (chunked transfers
 * reassembled; a chunked transfer still in flight is left out). `skipped` lists file_skipped.
 */
export function syncedState(client: TestClient): { files: Map<string, SyncedFile>; skipped: string[]; writes: number } {
  const files = new Map<string, SyncedFile>();
  const skipped: string[] = [];
  const open = new Map<number, { path: string; chunks: Buffer[]; total: number; head: SyncedFile }>();
  let writes = 0;
  for (const m of client.messages) {
    if (m.type === 'file_skipped') skipped.push(m.path);
    if (m.type === 'file_change') {
      if (m.action === 'delete') files.set(m.path, { action: 'delete' });
      else if (m.chunks !== undefined && m.transfer !== undefined) {
        open.set(m.transfer, { path: m.path, chunks: [], total: m.chunks, head: { action: 'write', executable: m.executable, sha256: m.sha256 } });
      } else {
        writes += 1;
        files.set(m.path, { action: 'write', content: Buffer.from(m.content ?? '', 'base64'), executable: m.executable, sha256: m.sha256 });
      }
    }
    if (m.type === 'file_chunk') {
      const t = open.get(m.transfer);
      if (!t) continue;
      t.chunks[m.index] = Buffer.from(m.data, 'base64');
      if (t.chunks.filter(Boolean).length === t.total) {
        writes += 1;
        files.set(t.path, { ...t.head, content: Buffer.concat(t.chunks) });
        open.delete(m.transfer);
      }
    }
  }
  return { files, skipped, writes };
}
