/**
 * The page's terminal connection: one WebSocket at a time to the API's browser relay
 * (WEB_CONNECT_PATH, or SHARE_CONNECT_PATH with the share token as subprotocol), and the
 * reconnect loop around it — the rules of `catty connect` (cli/attach/attach.ts):
 * - the output offset is tracked byte by byte and sent back on reconnect, so the runtime resumes
 *   exactly (or sends a `screen` when the bytes are gone);
 * - a connection that had its `hello` reconnects at once; one that never got there waits with
 *   exponential backoff and full jitter (250 ms doubling to 5 s) and first asks the API whether
 *   the session still runs;
 * - 4000 (replaced), 4001 (the session ended) and 4003 (accessEnded: this browser's grant ended: signed out,
 *   or the share link expired or was revoked) end the loop, saying why.
 */
import { CloseCode, parseRuntimeMessage, type ExitMessage, type HelloMessage, type RuntimeMessage } from '../../../../session-runtime/wire/protocol.js';


export type ControlState = Extract<RuntimeMessage, { type: 'control' }>;

export interface ConnectionHandlers {
  /** The runtime's hello: paint `screen` (after a reset) when it is there. */
  hello(hello: HelloMessage, reconnect: boolean): void;
  /** Terminal bytes; `endOffset` is the output offset just after them. */
  output(bytes: Uint8Array, endOffset: number): void;
  control(state: ControlState): void;
  resized(cols: number, rows: number): void;
  exit(exit: ExitMessage): void;
  /** Connected, reconnecting, or why it ended for good. */
  status(status: LinkStatus): void;
}

export type LinkStatus =
  | { kind: 'connecting' }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; inMs: number; reason: string }
  | { kind: 'ended'; reason: string };

/** What the API says about the session when a connection failed before its hello. */
export type SessionProbe = () => Promise<{ running: boolean; reason?: string } | null>;

export interface ConnectionOptions {
  /** The WebSocket URL for this attempt (`offset` undefined: the first, or after a screen). */
  url(offset: number | undefined, cols: number, rows: number): string;
  protocols?: string[];
  size(): { cols: number; rows: number };
  probe: SessionProbe;
  handlers: ConnectionHandlers;
}

const BACKOFF = { baseMs: 250, maxMs: 5_000 };

function backoffDelayMs(attempt: number): number {
  const ceiling = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

function closeReason(code: number, reason: string): string | null {
  if (code === CloseCode.sessionEnded) return reason || 'The session has ended.';
  if (code === CloseCode.replaced) return reason || 'Another client took this connection over.';
  if (code === CloseCode.accessEnded) return reason || 'This view is no longer allowed: sign in again, or ask for a new share link.';
  return null;
}

export class TerminalConnection {
  #ws: WebSocket | null = null;
  #offset: number | undefined;
  #stopped = false;
  #attempt = 0;
  #timer: number | undefined;
  #everConnected = false;

  constructor(private readonly options: ConnectionOptions) {}

  start(): void {
    this.#open();
  }

  /** Keystrokes (only the controller's reach the PTY; the runtime drops the rest). */
  sendBytes(bytes: Uint8Array): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(bytes);
  }

  sendMessage(message: { type: 'take_control' } | { type: 'resize'; cols: number; rows: number }): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  stop(): void {
    this.#stopped = true;
    window.clearTimeout(this.#timer);
    this.#ws?.close(CloseCode.normal, 'closed');
  }

  #open(): void {
    const { handlers } = this.options;
    const size = this.options.size();
    handlers.status({ kind: 'connecting' });
    const ws = new WebSocket(this.options.url(this.#offset, size.cols, size.rows), this.options.protocols);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    let helloSeen = false;
    let lastError = '';
    ws.addEventListener('message', (event: MessageEvent<ArrayBuffer | string>) => {
      if (this.#ws !== ws) return;
      if (typeof event.data !== 'string') {
        if (!helloSeen || this.#offset === undefined) return;
        const bytes = new Uint8Array(event.data);
        this.#offset += bytes.byteLength;
        handlers.output(bytes, this.#offset);
        return;
      }
      const message = parseRuntimeMessage(event.data);
      if (!message) return;
      switch (message.type) {
        case 'hello':
          helloSeen = true;
          this.#attempt = 0;
          handlers.hello(message, this.#everConnected);
          this.#everConnected = true;
          this.#offset = message.offset;
          handlers.status({ kind: 'connected' });
          break;
        case 'control':
          handlers.control(message);
          break;
        case 'resized':
          handlers.resized(message.cols, message.rows);
          break;
        case 'exit':
          handlers.exit(message);
          break;
        case 'error':
          lastError = message.message;
          break;
        default:
          // file_change and git messages go to the CLI that syncs, never here.
          break;
      }
    });
    ws.addEventListener('close', (event) => {
      if (this.#ws !== ws || this.#stopped) return;
      this.#ws = null;
      const final = closeReason(event.code, event.reason || lastError);
      if (final) return handlers.status({ kind: 'ended', reason: final });
      void this.#retry(helloSeen, event.reason || lastError || `the connection closed (${event.code})`);
    });
  }

  async #retry(helloSeen: boolean, reason: string): Promise<void> {
    if (!helloSeen) {
      const session = await this.options.probe().catch(() => null);
      if (session && !session.running) return this.options.handlers.status({ kind: 'ended', reason: session.reason ?? 'The session is not running.' });
    }
    if (this.#stopped) return;
    const inMs = helloSeen ? 0 : backoffDelayMs(this.#attempt++);
    this.options.handlers.status({ kind: 'reconnecting', inMs, reason });
    this.#timer = window.setTimeout(() => this.#open(), inMs);
  }
}
