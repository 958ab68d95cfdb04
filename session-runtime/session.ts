/**
 * One session: the upload, the agent, the relay, sync-back. Owns its resources as a group and
 * tears them down idempotently.
 */
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { WebSocket } from 'ws';
import { agentStateDir, seedAgentHome } from './agent-home.js';
import { buildAgentEnv } from './agent-env.js';
import type { AgentExit, AgentProcess, SpawnAgent } from './agent.js';
import { wsClientSocket } from './client-socket.js';
import { BaseStore } from './files/base.js';
import { FilesView } from './files/view.js';
import { tempRoot, type RuntimeConfig } from './config.js';
import { bundleBranches, type BranchBundle } from './git-bundle.js';
import { watchGitRefs, type GitWatch } from './git-watch.js';
import { DEFAULT_COLS, DEFAULT_ROWS, type ClientKind, type Health, type UploadResult } from './wire/protocol.js';
import { Relay } from './relay.js';
import { SyncSender } from './sync/sender.js';
import { WorkspaceWatcher, type Baseline } from './sync/watcher.js';
import { receiveUpload } from './upload/receive.js';
import { receiveSnapshot } from './snapshot-restore.js';
import { isSnapshotMediaType } from './wire/restore.js';
import { escapeForTerminal } from './wire/safe-path.js';
import { UploadRejected } from './upload/zip-plan.js';

/** Bytes of output kept for `catty logs`. */
export const LOG_TAIL_BYTES = 64 * 1024;

export interface SessionDeps {
  config: RuntimeConfig;
  agentHome: string;
  spawnAgent: SpawnAgent;
  runtimeEnv: NodeJS.ProcessEnv;
  isRoot: boolean;
  /** The egress bridge's URL for the agent's proxy variables; absent: none. */
  proxyUrl?: string | null;
  /** The variables of the credentials the egress proxy holds (agent-env.ts egressAgentEnv). */
  egressEnv?: Record<string, string>;
  /** Those variables as the agent gets them, once the proxy's socket is there (with the session
   * CA's); the agent's start waits for it. Absent: egressEnv. */
  egressReady?: Promise<Record<string, string>>;
  /** Operator log (the runtime's stdout): phase timings of the upload. */
  log?: (line: string) => void;
}

export class Session {
  readonly relay: Relay;
  readonly watcher: WorkspaceWatcher;
  readonly sync: SyncSender;
  /** What the Files view shows changes against: the upload or the restored snapshot (files/). */
  readonly base = new BaseStore();
  /** GET /files and /files/diff. */
  readonly files: FilesView;
  #uploadState: 'waiting' | 'receiving' | 'done' = 'waiting';
  #agent: AgentProcess | null = null;
  #sockets = new Set<WebSocket>();
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;
  /** Git bundles being made or sent: the end of the session waits for them (bounded). */
  readonly #gitTransfers = new Set<Promise<unknown>>();
  #gitRequestedAfterExit = false;
  #gitWatch: GitWatch | null = null;
  #gitRequestWaiters: (() => void)[] = [];
  /** Resolves when the agent has been started (after the upload, or at once with no upload). */
  readonly started: Promise<void>;
  #markStarted!: () => void;
  /**
   * The agent's configuration, written while the machine waits for its upload: right after the
   * upload the thread pool is busy with the watcher's first scan, and these few reads and writes
   * queued behind it took 35–55 ms of every session start.
   */
  readonly #seeded: Promise<void>;

  constructor(private readonly deps: SessionDeps) {
    const { config } = deps;
    this.watcher = new WorkspaceWatcher(config.workspace, (message) => this.deps.log?.(message));
    this.sync = new SyncSender(config.workspace, this.watcher, config.maxSyncFileBytes);
    this.files = new FilesView(config.workspace, this.base);
    this.relay = new Relay(DEFAULT_COLS, DEFAULT_ROWS, this.sync);
    this.started = new Promise((resolve) => (this.#markStarted = resolve));
    // With the placeholder key: Claude Code approves the key it is given.
    this.#seeded = seedAgentHome(config, deps.agentHome, { ...config.agentEnv, ...deps.egressEnv }, deps.proxyUrl);
    this.#seeded.catch(() => undefined); // awaited (and reported) by startAgent
    this.#heartbeat = setInterval(() => this.#ping(), config.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  health(): Health {
    const exit = this.relay.exit;
    return {
      ok: true,
      uploaded: this.#uploadState === 'done',
      agent: exit ? 'exited' : this.#agent ? 'running' : 'waiting',
      exitCode: exit ? exit.code : null,
    };
  }

  logTail(): Buffer {
    return this.relay.log.tail(LOG_TAIL_BYTES);
  }

  onExit(listener: (exit: AgentExit) => void): void {
    this.relay.onExit(listener);
  }

  /** Accepts the one upload; a rejected one does not count. */
  async upload(req: IncomingMessage, size: { cols?: number; rows?: number }): Promise<UploadResult> {
    if (this.#uploadState === 'receiving') throw new UploadRejected('upload_in_progress', 'Another upload is being received', 409);
    if (this.#uploadState !== 'waiting' || this.deps.config.noUpload || this.#closed) {
      throw new UploadRejected('already_uploaded', 'This session already has its workspace', 409);
    }
    this.#uploadState = 'receiving';
    try {
      // A resumed or forked session's workspace comes as its snapshot (sent by the API), not a zip.
      const restore = isSnapshotMediaType(req.headers['content-type']);
      const receive = restore ? receiveSnapshot : receiveUpload;
      const base = this.base.record(restore ? 'restore' : 'upload');
      const report = await receive(req, this.deps.config.workspace, { maxBytes: this.deps.config.maxUploadBytes, agentStateDir: agentStateDir(this.deps.config, this.deps.agentHome) ?? undefined, base }).catch((err: unknown) => {
        base.discard();
        throw err;
      });
      base.commit();
      this.#uploadState = 'done';
      const agentStartMs = performance.now();
      // No size with the upload: keep what an attached client asked for (80x24 otherwise).
      // The watcher's initial scan runs alongside the agent (see WorkspaceWatcher.start).
      const baseline = { files: report.paths, writtenAtMs: Date.now() };
      await this.startAgent(size.cols ?? this.relay.cols, size.rows ?? this.relay.rows, baseline);
      const extraction = report.fallbackReason === null ? 'extracted while receiving' : `extracted in ${Math.round(report.extractedMs)} ms after it (not streamable: ${escapeForTerminal(report.fallbackReason)})`;
      this.deps.log?.(`upload: ${report.files} files, ${report.bytes} bytes; received in ${Math.round(report.receivedMs)} ms, ${extraction}; agent started in ${Math.round(performance.now() - agentStartMs)} ms`);
      void this.watcher.scanned.then(() => this.deps.log?.(`workspace watcher ready ${Math.round(performance.now() - agentStartMs)} ms after the upload`));
      return { ok: true, files: report.files, bytes: report.bytes };
    } catch (err) {
      if (this.#uploadState === 'receiving') this.#uploadState = 'waiting';
      throw err;
    }
  }

  /**
   * Starts the watcher, then the agent, at the given size. With a baseline (the upload's files)
   * the agent does not wait for the watcher's initial scan.
   */
  async startAgent(cols: number, rows: number, baseline?: Baseline): Promise<void> {
    if (this.#agent || this.#closed) return;
    const { config } = this.deps;
    const scanned = this.watcher.start(() => this.sync.kick(), baseline);
    if (!baseline) await scanned;
    await this.#seeded;
    const egressEnv = this.deps.egressReady ? await this.deps.egressReady : this.deps.egressEnv;
    if (this.#agent || this.#closed) return;
    this.relay.resize(cols, rows);
    const env = buildAgentEnv({ runtimeEnv: this.deps.runtimeEnv, agentEnv: config.agentEnv, home: this.deps.agentHome, isRoot: this.deps.isRoot, proxyUrl: this.deps.proxyUrl, egressEnv });
    try {
      this.#agent = this.deps.spawnAgent({ argv: config.agentCmd, cwd: config.workspace, env, cols, rows });
    } catch (err) {
      // Could not even start (command not found): report it as an exit, like a shell's 127.
      this.relay.log.append(Buffer.from(`catty-session: cannot start ${config.agentCmd[0]}: ${(err as Error).message}\r\n`));
      this.#agent = failedAgent();
      this.relay.setAgent(this.#agent);
      (this.#agent as FailedAgent).fail();
      this.#markStarted();
      return;
    }
    this.relay.setAgent(this.#agent);
    this.#gitWatch = watchGitRefs(config.workspace, () => this.relay.gitMoved());
    this.#markStarted();
  }

  /** Clients attached now (the CLI and browsers). */
  get clientCount(): number {
    return this.relay.clientCount;
  }

  connect(ws: WebSocket, query: { offset?: number; cols?: number; rows?: number; client?: ClientKind; readonly?: boolean }): void {
    const socket = wsClientSocket(ws);
    this.#sockets.add(ws);
    let alive = true;
    ws.on('pong', () => (alive = true));
    (ws as WebSocket & { catty?: { isAlive(): boolean; mark(): void } }).catty = {
      isAlive: () => alive,
      mark: () => (alive = false),
    };
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) this.relay.handleBinary(socket, buf);
      else this.relay.handleText(socket, buf.toString('utf8'));
    });
    ws.on('close', () => {
      this.#sockets.delete(ws);
      this.relay.detach(socket);
    });
    ws.on('error', () => undefined);
    // The query's size becomes the PTY's only for a client that takes control at attach (the CLI).
    void this.relay.attach(socket, query.offset, { kind: query.client ?? 'cli', readonly: query.readonly ?? false, cols: query.cols, rows: query.rows });
  }

  /**
   * The agent's branches as a bundle (git-bundle.ts). `sent`: settles when the caller is done
   * with the file; until then (and while the bundle is made) `gitIdle` waits for it.
   */
  gitBundle(maxBytes: number, sent: (bundle: BranchBundle) => Promise<void>): Promise<void> {
    if (this.relay.exit) this.#gitRequestedAfterExit = true;
    const transfer = bundleBranches(this.deps.config.workspace, tempRoot(), maxBytes, this.deps.runtimeEnv.PATH).then(sent);
    const tracked = transfer.catch(() => undefined).finally(() => this.#gitTransfers.delete(tracked));
    this.#gitTransfers.add(tracked);
    for (const wake of this.#gitRequestWaiters.splice(0)) wake();
    return transfer;
  }

  /**
   * Resolves once no git bundle is being made or sent (or after `maxMs`): the machine may go.
   * When the client attached at the agent's exit said it would ask (`git_home`), first waits
   * up to `requestWaitMs` for its request to come.
   */
  async gitIdle(maxMs: number, requestWaitMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    if (this.relay.gitWantedAtExit && !this.#gitRequestedAfterExit) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#gitRequestWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(requestWaitMs, maxMs)))),
      ]);
      clearTimeout(timer);
    }
    while (this.#gitTransfers.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())));
      await Promise.race([Promise.all(this.#gitTransfers), timeout]);
      clearTimeout(timer);
    }
  }

  /** Agent still running? Stop it politely, then for sure. */
  async stopAgent(graceMs: number): Promise<void> {
    const agent = this.#agent;
    if (!agent || this.relay.exit) return;
    const exited = new Promise<void>((resolve) => this.relay.onExit(() => resolve()));
    agent.kill('SIGHUP');
    const timer = setTimeout(() => agent.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  async close(reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#gitWatch?.close();
    this.relay.closeAll(reason);
    for (const ws of this.#sockets) ws.close(4001, reason);
    await this.watcher.close();
    this.relay.dispose();
    this.base.dispose();
  }

  /** Ping everyone; drop whoever did not answer the previous ping. */
  #ping(): void {
    for (const ws of this.#sockets) {
      const state = (ws as WebSocket & { catty?: { isAlive(): boolean; mark(): void } }).catty;
      if (state && !state.isAlive()) {
        ws.terminate();
        continue;
      }
      state?.mark();
      ws.ping();
    }
  }
}

interface FailedAgent extends AgentProcess {
  fail(): void;
}

/** Stands in for an agent that could not be spawned: exits at once with 127. */
function failedAgent(): FailedAgent {
  let exitListener: ((exit: AgentExit) => void) | null = null;
  return {
    pid: 0,
    onData: () => undefined,
    onExit: (listener) => (exitListener = listener),
    write: () => undefined,
    resize: () => undefined,
    pause: () => undefined,
    resume: () => undefined,
    kill: () => undefined,
    fail: () => setImmediate(() => exitListener?.({ code: 127, signal: null })),
  };
}
