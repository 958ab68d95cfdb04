/**
 * Attaching a terminal to a session: raw mode, keystrokes → socket (watching for the detach
 * key; only while this terminal has control, see control.ts), output → stdout with
 * backpressure, resize on SIGWINCH, sync-back, and reconnecting by itself (backoff with jitter,
 * exact resume from the last received offset) until it gives up.
 * Exit codes per DESIGN.md: the agent's code, 0 after a detach, 255 when the connection is lost
 * for good, 4 when the session has ended.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { ExitCode } from '../errors.js';
import { escapeForTerminal } from '../../session-runtime/wire/safe-path.js';
import type { SyncApplier } from '../sync/applier.js';
import { backoffDelayMs, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import { Connection, connectUrlFor, type ConnectionEnd } from './connection.js';
import { enterRawMode, terminalSize } from './terminal.js';
import { describeDetachKey } from './detach-key.js';
import { InputControl } from './control.js';

export interface AttachOptions {
  label: string;
  connectUrl: string;
  /** The runtime's Unix socket on this machine, when it is reached through one. */
  socketPath?: string;
  connectToken: string;
  detachKey: number;
  autoReconnect: boolean;
  /** Give up reconnecting after this long without a working connection. */
  reconnectTimeoutMs: number;
  backoff?: BackoffOptions;
  /** null: sync-back off. */
  sync: SyncApplier | null;
  /** The agent's branches will be fetched when it exits: the runtime is asked to wait for that. */
  gitHome?: boolean;
  /** The runtime says the agent's branches moved (only with gitHome). */
  onGitMoved?: () => void;
  /** Asks the API whether the session has ended, for when its runtime cannot be reached (an
   * agent that exits at once takes its machine with it before the first connect). */
  endedProbe?: () => Promise<EndedSession | null>;
}

export interface EndedSession {
  status: string;
  exitCode: number | null;
  /** The session's last terminal output, shown when this attach printed none of it. */
  lastOutput: Buffer;
}

const SIGNALS = ['SIGTERM', 'SIGHUP', 'SIGINT'] as const;
/** DECSC / DECRC: the cursor (and its attributes) saved and put back. */
const SAVE_CURSOR = '\x1b7';
const RESTORE_CURSOR = '\x1b8';
const STDOUT_DRAIN_TIMEOUT_MS = 10_000;
const SIGNAL_NUMBERS: Record<(typeof SIGNALS)[number], number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

export async function attach(ctx: Context, options: AttachOptions): Promise<number> {
  const terminal = enterRawMode(ctx);
  const control = new InputControl({ label: options.label, detachKey: options.detachKey, notice: (line) => status(line), size: () => terminalSize(ctx) });
  const state: AttachState = { offset: undefined, skip: 0, current: null, endedBeforeAttach: false, pending: new PendingInput(), control };
  let detachRequested = false;
  let wakeForDetach = () => {};
  const detached = new Promise<void>((resolve) => (wakeForDetach = resolve));
  const onStdin = (chunk: Buffer) => {
    const at = chunk.indexOf(options.detachKey);
    const typed = at === -1 ? chunk : chunk.subarray(0, at);
    // Typed before the session said hello (connecting, reconnecting): held until it does.
    // While a browser has control, nothing is typed into the agent (Enter asks for control).
    if (state.current?.ready) {
      if (!state.control.controlling) state.control.typedWhileWatching(typed, state.current);
      else {
        state.control.typing();
        state.current.sendInput(typed);
      }
    } else if (!state.pending.add(typed)) ctx.stderr.write('\x07');
    if (at === -1) return;
    detachRequested = true;
    wakeForDetach();
    state.current?.end({ kind: 'detach' });
  };
  // Only while in control: the controller's size is the PTY's.
  const onResize = () => {
    if (state.control.controlling) state.current?.send({ type: 'resize', ...terminalSize(ctx) });
  };
  const onSignal = (signal: unknown) => state.current?.end({ kind: 'signal', signal: signal as NodeJS.Signals });
  const signalHandlers = SIGNALS.map((s) => [s, () => onSignal(s)] as const);
  ctx.stdin.on('data', onStdin);
  ctx.stdin.resume();
  ctx.proc.on('SIGWINCH', onResize);
  for (const [s, h] of signalHandlers) ctx.proc.on(s, h);
  let statusShown = false;
  /** Before the last words: the status line cleared and the terminal back to normal. */
  const closing = (line: string | null, belowScreen = false) => {
    status(line);
    terminal.leave(belowScreen);
  };
  /**
   * The reconnect banner, drawn over the row the cursor is on and erased (`null`) as soon as the
   * stream resumes — left there, it stayed over the agent's prompt row after the session was
   * back. The cursor is saved and restored around both, so the agent's output continues where
   * the agent left the cursor. What the banner covered on that row comes back with the agent's
   * next redraw of it.
   */
  const status = (line: string | null) => {
    if (line === null) {
      if (statusShown) ctx.stderr.write(`${SAVE_CURSOR}\r\x1b[K${RESTORE_CURSOR}`);
      statusShown = false;
      return;
    }
    ctx.stderr.write(`${SAVE_CURSOR}\r\x1b[K${line}${RESTORE_CURSOR}`);
    statusShown = true;
  };

  try {
    let failingSince: number | null = null;
    for (let attempt = 0; ; attempt++) {
      const end: ConnectionEnd = detachRequested ? { kind: 'detach' } : await runOnce(ctx, options, state, () => status(null));
      if (end.kind === 'dropped' && end.helloSeen) failingSince = null;
      switch (end.kind) {
        case 'exit':
          closing(null);
          // Attaching to a session that had already ended: say so (SECURITY.md 24), rather than
          // replaying its last output and returning as if it had just exited.
          if (state.endedBeforeAttach) ctx.stderr.write(`\r\n[session ${options.label} has ended (exit code ${end.code}); its files: catty download ${options.label}]\r\n`);
          return end.code;
        case 'detach':
          closing(null, true);
          ctx.stderr.write(`\r\n[detached from ${options.label}; reattach with: catty connect ${options.label}]\r\n`);
          return ExitCode.ok;
        case 'signal':
          closing(null);
          return 128 + SIGNAL_NUMBERS[end.signal as (typeof SIGNALS)[number]];
        case 'ended': {
          // Closed as ended without an exit message (stopped, or its machine went away while
          // the exit was on its way): the API knows the agent's code if it exited by itself.
          const ended = await probeEnded(options, ENDED_RECORD_WAIT_MS);
          closing(null);
          ctx.stderr.write(`\r\n[session ${options.label} has ended: ${escapeForTerminal(end.reason)}]\r\n`);
          return ended?.exitCode ?? ExitCode.sessionGone;
        }
        case 'replaced':
          closing(null);
          ctx.stderr.write(`\r\n[another client took over ${options.label}: ${escapeForTerminal(end.reason)}]\r\n`);
          return ExitCode.connectionLost;
        case 'refused': {
          const ended = await probeEnded(options);
          if (ended) return reportEnded(ctx, options.label, ended, state.offset === undefined, closing);
          closing(null);
          ctx.stderr.write(`\r\n[the session refused the connection (HTTP ${end.status}); it has probably ended. See: catty logs ${options.label}]\r\n`);
          return ExitCode.sessionGone;
        }
        case 'dropped': {
          if (!end.helloSeen) {
            const ended = await probeEnded(options);
            if (ended) return reportEnded(ctx, options.label, ended, state.offset === undefined, closing);
          }
          failingSince ??= Date.now();
          const lostForGood = !options.autoReconnect || Date.now() - failingSince >= options.reconnectTimeoutMs;
          if (lostForGood) {
            closing(null);
            ctx.stderr.write(`\r\n[connection to ${options.label} lost: ${escapeForTerminal(end.reason)}. Reconnect with: catty connect ${options.label}]\r\n`);
            return ExitCode.connectionLost;
          }
          const delayMs = backoffDelayMs(end.helloSeen ? 0 : attempt, options.backoff ?? DEFAULT_BACKOFF);
          const left = Math.ceil((options.reconnectTimeoutMs - (Date.now() - failingSince)) / 1000);
          status(`[connection lost (${escapeForTerminal(end.reason)}); reconnecting… giving up in ${left}s, ${describeDetachKey(options.detachKey)} to detach]`);
          if (end.helloSeen) attempt = 0;
          await Promise.race([sleep(delayMs), detached]);
          continue;
        }
        default: {
          const never: never = end;
          throw new Error(`unhandled end ${JSON.stringify(never)}`);
        }
      }
    }
  } finally {
    // Everything received reaches the terminal before we return (bounded: a stuck terminal
    // must not hang the exit).
    await drained(ctx.stdout, STDOUT_DRAIN_TIMEOUT_MS);
    ctx.stdin.off('data', onStdin);
    ctx.stdin.pause();
    ctx.proc.off('SIGWINCH', onResize);
    for (const [s, h] of signalHandlers) ctx.proc.off(s, h);
    terminal.restore();
  }
}

/** How long to wait for the API to record the end of a session its runtime just closed. */
const ENDED_RECORD_WAIT_MS = 3000;

async function probeEnded(options: AttachOptions, waitMs = 0): Promise<EndedSession | null> {
  if (!options.endedProbe) return null;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const ended = await options.endedProbe();
      if (ended || Date.now() >= deadline) return ended;
    } catch {
      // The API is unreachable too: keep treating it as a dropped connection.
      return null;
    }
    await sleep(200);
  }
}

function reportEnded(ctx: Context, label: string, ended: EndedSession, showOutput: boolean, status: (line: string | null) => void): number {
  status(null);
  if (showOutput && ended.lastOutput.length > 0) ctx.stdout.write(ended.lastOutput);
  const code = ended.exitCode === null ? '' : ` (exit code ${ended.exitCode})`;
  ctx.stderr.write(`\r\n[session ${label} has ended${code}; its files: catty download ${label}]\r\n`);
  return ended.exitCode ?? ExitCode.sessionGone;
}

interface AttachState {
  /** Output bytes received so far (the resume offset); undefined before the first hello. */
  offset: number | undefined;
  /** Bytes to drop from the next output: the runtime resumed before what was printed. */
  skip: number;
  current: Connection | null;
  /** The hello said the agent was gone already (a reconnect after the end). */
  endedBeforeAttach: boolean;
  pending: PendingInput;
  /** Whether this terminal has the input, or watches while a browser has it. */
  control: InputControl;
}

/** Keystrokes typed while no connection is ready, sent in order by the next hello. Bounded: a
 * paste into a link that is down is not kept without limit (what does not fit is refused). */
export class PendingInput {
  static readonly CAP_BYTES = 64 * 1024;
  #chunks: Buffer[] = [];
  #bytes = 0;

  /** false when the bytes did not fit and were dropped. */
  add(bytes: Buffer): boolean {
    if (bytes.length === 0) return true;
    if (this.#bytes + bytes.length > PendingInput.CAP_BYTES) return false;
    this.#chunks.push(Buffer.from(bytes));
    this.#bytes += bytes.length;
    return true;
  }

  take(): Buffer {
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#bytes = 0;
    return all;
  }
}

/** One connection; `resumed` runs when the session greets it, before any of its output. */
async function runOnce(ctx: Context, options: AttachOptions, state: AttachState, resumed: () => void): Promise<ConnectionEnd> {
  const url = connectUrlFor(options.connectUrl, { offset: state.offset, ...terminalSize(ctx) });
  const connection = new Connection(url, options.connectToken, {
    output: (bytes) => {
      let data = bytes;
      if (state.skip > 0) {
        // The runtime resumed earlier than what we already printed: drop the overlap.
        const drop = Math.min(state.skip, data.length);
        state.skip -= drop;
        data = data.subarray(drop);
      }
      state.offset = (state.offset ?? 0) + bytes.length;
      return data.length === 0 ? true : ctx.stdout.write(data);
    },
    onDrain: (listener) => ctx.stdout.once('drain', listener),
    hello: (hello) => {
      resumed();
      state.control.attached();
      const had = state.offset;
      if (hello.screen !== undefined) {
        ctx.stdout.write('\x1b[H\x1b[2J');
        ctx.stdout.write(hello.screen);
        state.skip = 0;
      } else if (had !== undefined && hello.offset < had) {
        state.skip = had - hello.offset;
      }
      state.offset = hello.offset;
      state.endedBeforeAttach = !hello.agentRunning;
      // The terminal may have been resized since the URL was made (a resize while the socket
      // was connecting went nowhere): correct the runtime's size to the terminal's.
      const now = terminalSize(ctx);
      if (hello.cols !== now.cols || hello.rows !== now.rows) connection.send({ type: 'resize', ...now });
      if (options.sync) {
        if (had !== undefined) options.sync.reconnected();
        connection.send({ type: 'sync_back', enabled: true });
      }
      if (options.gitHome) connection.send({ type: 'git_home', enabled: true });
      connection.sendInput(state.pending.take());
    },
    file: (msg) => options.sync?.handle(msg),
    gitMoved: () => options.onGitMoved?.(),
    control: (msg) => state.control.onControl(msg, connection),
  }, options.socketPath);
  state.current = connection;
  const pressure = (paused: boolean) => connection.setExternalPause(paused);
  options.sync?.setPressureListener(pressure);
  try {
    return await connection.ended;
  } finally {
    state.current = null;
    options.sync?.setPressureListener(null);
  }
}

async function drained(stream: Context['stdout'], timeoutMs: number): Promise<void> {
  if (!stream.writableNeedDrain && (stream.writableLength ?? 0) === 0) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    function done() {
      clearTimeout(timer);
      stream.off('drain', done);
      resolve();
    }
    stream.on('drain', done);
  });
}
