/**
 * One WebSocket connection to a session runtime, from open to close: relays terminal bytes both
 * ways, dispatches control messages, and resolves with how it ended. The reconnect loop
 * (attach.ts) decides what to do next.
 */
import net from 'node:net';
import WebSocket from 'ws';
import {
  CloseCode,
  RuntimePath,
  MAX_FRAME_BYTES,
  parseRuntimeMessage,
  type ClientMessage,
  type ControlMessage,
  type HelloMessage,
  type RuntimeMessage,
} from '../../session-runtime/wire/protocol.js';

export type ConnectionEnd =
  | { kind: 'exit'; code: number }
  | { kind: 'detach' }
  | { kind: 'ended'; reason: string }
  | { kind: 'replaced'; reason: string }
  | { kind: 'refused'; status: number }
  | { kind: 'dropped'; reason: string; helloSeen: boolean }
  | { kind: 'signal'; signal: NodeJS.Signals };

export interface ConnectionHooks {
  /** Terminal output; return false when the sink is full (the socket is paused until `drain`). */
  output(bytes: Buffer): boolean;
  onDrain(listener: () => void): void;
  hello(hello: HelloMessage): void;
  /** file_change / file_chunk / file_skipped */
  file(msg: Extract<RuntimeMessage, { type: 'file_change' | 'file_chunk' | 'file_skipped' }>): void;
  /** The agent's branches may have moved (only after `git_home`). */
  gitMoved?(): void;
  /** Who has the input changed, or the set of clients (issue 24). */
  control?(msg: ControlMessage): void;
}

/** Silence after which the peer counts as dead (we ping every PING_INTERVAL_MS). */
const PING_INTERVAL_MS = 15_000;
const DEAD_AFTER_MS = 45_000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
const EXIT_CLOSE_GRACE_MS = 2_000;

export class Connection {
  readonly ws: WebSocket;
  readonly ended: Promise<ConnectionEnd>;
  #resolve!: (end: ConnectionEnd) => void;
  #done = false;
  #helloSeen = false;
  #lastError: string | null = null;
  #exitCode: number | null = null;
  #outputBlocked = false;
  #externalPause = false;
  #lastSeen = Date.now();
  readonly #timer: NodeJS.Timeout;

  /** `socketPath`: the runtime's Unix socket (`url` then only names the path and Host). */
  constructor(url: string, token: string, hooks: ConnectionHooks, socketPath?: string) {
    this.ended = new Promise((resolve) => (this.#resolve = resolve));
    this.ws = new WebSocket(url, {
      // ws takes no socketPath option; its connection factory can be given instead.
      ...(socketPath ? { createConnection: () => net.createConnection(socketPath) } : {}),
      headers: { authorization: `Bearer ${token}` },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    const alive = () => (this.#lastSeen = Date.now());
    this.ws.on('ping', alive);
    this.ws.on('pong', alive);
    this.ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      // 5xx and 429 are transient (a relay restarting); anything else means "not for you".
      this.#finish(status >= 500 || status === 429 ? { kind: 'dropped', reason: `HTTP ${status}`, helloSeen: false } : { kind: 'refused', status });
      this.ws.terminate();
    });
    this.ws.on('error', (error) => {
      this.#lastError ??= error.message;
    });
    this.ws.on('message', (data: Buffer, isBinary) => {
      alive();
      if (isBinary) {
        if (!hooks.output(data) && !this.#outputBlocked) {
          // Backpressure: stop reading the socket until the terminal has drained.
          this.#outputBlocked = true;
          this.#applyPause();
          hooks.onDrain(() => {
            this.#outputBlocked = false;
            this.#applyPause();
          });
        }
        return;
      }
      const msg = parseRuntimeMessage(data.toString('utf8'));
      if (!msg) return; // an unknown control message from a newer runtime: ignore it
      this.#dispatch(msg, hooks);
    });
    this.ws.on('close', (code, reason) => this.#closed(code, reason.toString('utf8')));
    this.#timer = setInterval(() => {
      if (Date.now() - this.#lastSeen > DEAD_AFTER_MS) {
        this.#lastError = 'no answer from the session (heartbeat timed out)';
        this.ws.terminate();
      } else if (this.ws.readyState === WebSocket.OPEN) {
        this.ws.ping();
      }
    }, PING_INTERVAL_MS);
    this.#timer.unref();
  }

  #dispatch(msg: RuntimeMessage, hooks: ConnectionHooks): void {
    switch (msg.type) {
      case 'hello':
        this.#helloSeen = true;
        hooks.hello(msg);
        return;
      case 'exit':
        this.#exitCode = msg.code ?? (msg.signal !== null ? 128 + msg.signal : 1);
        // The runtime closes with 4001 right after; do not hang if it does not.
        setTimeout(() => this.end({ kind: 'exit', code: this.#exitCode ?? 1 }), EXIT_CLOSE_GRACE_MS).unref();
        return;
      case 'error':
        this.#lastError = msg.message;
        return;
      case 'file_change':
      case 'file_chunk':
      case 'file_skipped':
        hooks.file(msg);
        return;
      case 'git_moved':
        hooks.gitMoved?.();
        return;
      case 'control':
        hooks.control?.(msg);
        return;
      case 'resized':
        // The controller (a browser) resized the PTY. This terminal keeps its size: it draws
        // what it gets, and sends its size again when it takes control back (control.ts).
        return;
      default: {
        const never: never = msg;
        throw new Error(`unhandled message ${JSON.stringify(never)}`);
      }
    }
  }

  #closed(code: number, reason: string): void {
    if (this.#exitCode !== null) return this.#finish({ kind: 'exit', code: this.#exitCode });
    const why = reason || this.#lastError || `closed (${code})`;
    if (code === CloseCode.sessionEnded) return this.#finish({ kind: 'ended', reason: why });
    if (code === CloseCode.replaced) return this.#finish({ kind: 'replaced', reason: why });
    this.#finish({ kind: 'dropped', reason: why, helloSeen: this.#helloSeen });
  }

  /** Pause for a reason outside the terminal (sync-back pressure). */
  setExternalPause(paused: boolean): void {
    this.#externalPause = paused;
    this.#applyPause();
  }

  #applyPause(): void {
    const want = this.#outputBlocked || this.#externalPause;
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (want && !this.ws.isPaused) this.ws.pause();
    else if (!want && this.ws.isPaused) this.ws.resume();
  }

  /** Open and greeted: keystrokes sent now reach the agent. */
  get ready(): boolean {
    return this.#helloSeen && this.ws.readyState === WebSocket.OPEN;
  }

  send(msg: ClientMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  sendInput(bytes: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN && bytes.length > 0) this.ws.send(bytes, { binary: true });
  }

  /** Ends the connection from our side (detach, signal). */
  end(end: ConnectionEnd): void {
    this.#finish(end);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(CloseCode.normal, end.kind);
    else this.ws.terminate();
  }

  #finish(end: ConnectionEnd): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#timer);
    this.#resolve(end);
  }
}

export function connectUrlFor(base: string, params: { offset?: number; cols: number; rows: number }): string {
  const url = new URL(`${base.replace(/\/+$/, '')}${RuntimePath.connect}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (params.offset !== undefined) url.searchParams.set('offset', String(params.offset));
  url.searchParams.set('cols', String(params.cols));
  url.searchParams.set('rows', String(params.rows));
  return url.toString();
}
